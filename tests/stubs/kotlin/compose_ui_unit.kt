@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.ui.unit

@JvmInline
value class Dp(val value: Float)

val Int.dp: Dp
    get() = Dp(this.toFloat())
