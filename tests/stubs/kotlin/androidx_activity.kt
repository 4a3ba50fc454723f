// Stubs of androidx.activity (activity 1.12 / activity-compose): ComponentActivity, viewModels, setContent.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.activity

import android.os.Bundle
import androidx.lifecycle.ViewModel

open class ComponentActivity : android.app.Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        throw UnsupportedOperationException("stub")
    }
}

inline fun <reified VM : ViewModel> ComponentActivity.viewModels(): Lazy<VM> = throw UnsupportedOperationException("stub")

// Edge-to-edge (activity 1.8+): what Android 15 forces at targetSdk 35+, done explicitly so older
// releases draw the same way.
class SystemBarStyle private constructor()

fun ComponentActivity.enableEdgeToEdge(
    statusBarStyle: SystemBarStyle? = null,
    navigationBarStyle: SystemBarStyle? = null,
) {
    throw UnsupportedOperationException("stub")
}
