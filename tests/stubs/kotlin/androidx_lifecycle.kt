// Stubs of androidx.lifecycle (lifecycle 2.10: ViewModel, AndroidViewModel, viewModelScope,
// collectAsStateWithLifecycle).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.lifecycle

import android.app.Application
import kotlinx.coroutines.CoroutineScope

abstract class ViewModel {
    protected open fun onCleared() {
        throw UnsupportedOperationException("stub")
    }
}

open class AndroidViewModel(application: Application) : ViewModel() {
    open fun <T : Application> getApplication(): T = throw UnsupportedOperationException("stub")
}

val ViewModel.viewModelScope: CoroutineScope
    get() = throw UnsupportedOperationException("stub")
