@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.foundation.layout

import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.Dp

interface ColumnScope {
    fun Modifier.weight(weight: Float, fill: Boolean = true): Modifier
}

interface RowScope {
    fun Modifier.weight(weight: Float, fill: Boolean = true): Modifier
}

@Composable
inline fun Column(modifier: Modifier = Modifier, content: @Composable ColumnScope.() -> Unit) {
    throw UnsupportedOperationException("stub")
}

@Composable
inline fun Row(modifier: Modifier = Modifier, content: @Composable RowScope.() -> Unit) {
    throw UnsupportedOperationException("stub")
}

fun Modifier.fillMaxSize(fraction: Float = 1f): Modifier = this

fun Modifier.fillMaxWidth(fraction: Float = 1f): Modifier = this

fun Modifier.padding(all: Dp): Modifier = this

fun Modifier.padding(start: Dp = Dp(0f), top: Dp = Dp(0f), end: Dp = Dp(0f), bottom: Dp = Dp(0f)): Modifier = this

fun Modifier.padding(horizontal: Dp = Dp(0f), vertical: Dp = Dp(0f)): Modifier = this

// Insets (foundation-layout 1.7): padding from a Scaffold, and the keyboard's (IME) inset.
interface PaddingValues

fun Modifier.padding(paddingValues: PaddingValues): Modifier = this

fun Modifier.consumeWindowInsets(paddingValues: PaddingValues): Modifier = this

fun Modifier.imePadding(): Modifier = this
