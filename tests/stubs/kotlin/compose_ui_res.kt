@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.ui.res

import androidx.compose.runtime.Composable

@Composable
fun stringResource(id: Int): String = throw UnsupportedOperationException("stub")
