@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.ui

interface Modifier {
    infix fun then(other: Modifier): Modifier = other

    companion object : Modifier
}
