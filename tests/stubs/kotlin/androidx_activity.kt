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
