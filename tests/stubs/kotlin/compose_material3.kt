@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.material3

import androidx.compose.foundation.layout.RowScope
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier

@Composable
fun MaterialTheme(content: @Composable () -> Unit) {
    throw UnsupportedOperationException("stub")
}

@Composable
fun Surface(modifier: Modifier = Modifier, content: @Composable () -> Unit) {
    throw UnsupportedOperationException("stub")
}

@Composable
fun Text(text: String, modifier: Modifier = Modifier) {
    throw UnsupportedOperationException("stub")
}

@Composable
fun Button(
    onClick: () -> Unit,
    modifier: Modifier = Modifier,
    enabled: Boolean = true,
    content: @Composable RowScope.() -> Unit,
) {
    throw UnsupportedOperationException("stub")
}

@Composable
fun OutlinedTextField(
    value: String,
    onValueChange: (String) -> Unit,
    modifier: Modifier = Modifier,
    enabled: Boolean = true,
    readOnly: Boolean = false,
    label: @Composable (() -> Unit)? = null,
    placeholder: @Composable (() -> Unit)? = null,
) {
    throw UnsupportedOperationException("stub")
}

// Scaffold (material3 1.3): the slots the generated app uses; the body gets the bars' and the
// system's insets as PaddingValues.
@Composable
fun Scaffold(
    modifier: Modifier = Modifier,
    topBar: @Composable () -> Unit = {},
    bottomBar: @Composable () -> Unit = {},
    content: @Composable (androidx.compose.foundation.layout.PaddingValues) -> Unit,
) {
    throw UnsupportedOperationException("stub")
}
