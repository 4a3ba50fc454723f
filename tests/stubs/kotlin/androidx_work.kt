// Stubs of androidx.work (WorkManager 2.11, work-runtime / work-runtime-ktx): the subset the
// generated model-download worker and ModelDownloads use. Signatures follow AndroidX's sources,
// github.com/androidx/androidx, work/work-runtime/src/main/java/androidx/work/: CoroutineWorker.kt
// (doWork, setProgress, setForeground), ListenableWorker.java (getApplicationContext,
// getRunAttemptCount, Result.success/failure/retry), ForegroundInfo.java (2- and 3-argument
// constructors), WorkManager.kt (getInstance(Context), enqueueUniqueWork(String,
// ExistingWorkPolicy, OneTimeWorkRequest), getWorkInfosForUniqueWorkFlow, cancelUniqueWork),
// Operation.kt (suspend Operation.await), WorkInfo.kt (state, outputData, progress, State),
// Data.kt / Data_.kt (workDataOf, getLong, getString), OneTimeWorkRequest.kt
// (OneTimeWorkRequestBuilder), WorkRequest.kt (Builder.setConstraints, build), Constraints.kt
// (Builder.setRequiredNetworkType), NetworkType.kt, ExistingWorkPolicy.kt.
// ListenableWorker, ForegroundInfo and Operation are Java in AndroidX: their getters appear here as
// the properties Kotlin callers see. Bodies throw: these exist to type-check calls.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.work

import android.app.Notification
import android.content.Context
import java.util.UUID
import kotlinx.coroutines.flow.Flow

class Data private constructor() {
    fun getLong(key: String, defaultValue: Long): Long = throw UnsupportedOperationException("stub")

    fun getString(key: String): String? = throw UnsupportedOperationException("stub")
}

fun workDataOf(vararg pairs: Pair<String, Any?>): Data = throw UnsupportedOperationException("stub")

class WorkerParameters private constructor()

class ForegroundInfo {
    constructor(notificationId: Int, notification: Notification) {
        throw UnsupportedOperationException("stub")
    }

    constructor(notificationId: Int, notification: Notification, foregroundServiceType: Int) {
        throw UnsupportedOperationException("stub")
    }
}

abstract class ListenableWorker(appContext: Context, workerParams: WorkerParameters) {
    val applicationContext: Context
        get() = throw UnsupportedOperationException("stub")

    val id: UUID
        get() = throw UnsupportedOperationException("stub")

    val runAttemptCount: Int
        get() = throw UnsupportedOperationException("stub")

    abstract class Result internal constructor() {
        companion object {
            @JvmStatic
            fun success(): Result = throw UnsupportedOperationException("stub")

            @JvmStatic
            fun success(outputData: Data): Result = throw UnsupportedOperationException("stub")

            @JvmStatic
            fun retry(): Result = throw UnsupportedOperationException("stub")

            @JvmStatic
            fun failure(): Result = throw UnsupportedOperationException("stub")

            @JvmStatic
            fun failure(outputData: Data): Result = throw UnsupportedOperationException("stub")
        }
    }
}

abstract class CoroutineWorker(appContext: Context, params: WorkerParameters) : ListenableWorker(appContext, params) {
    abstract suspend fun doWork(): Result

    open suspend fun getForegroundInfo(): ForegroundInfo = throw UnsupportedOperationException("stub")

    suspend fun setProgress(data: Data) {
        throw UnsupportedOperationException("stub")
    }

    suspend fun setForeground(foregroundInfo: ForegroundInfo) {
        throw UnsupportedOperationException("stub")
    }
}

enum class NetworkType { NOT_REQUIRED, CONNECTED, UNMETERED, NOT_ROAMING, METERED, TEMPORARILY_UNMETERED }

enum class ExistingWorkPolicy { REPLACE, KEEP, APPEND, APPEND_OR_REPLACE }

class Constraints private constructor() {
    class Builder {
        fun setRequiredNetworkType(networkType: NetworkType): Builder = throw UnsupportedOperationException("stub")

        fun build(): Constraints = throw UnsupportedOperationException("stub")
    }
}

abstract class WorkRequest internal constructor() {
    open val id: UUID
        get() = throw UnsupportedOperationException("stub")

    abstract class Builder<B : Builder<B, *>, W : WorkRequest> internal constructor() {
        fun setConstraints(constraints: Constraints): B = throw UnsupportedOperationException("stub")

        fun build(): W = throw UnsupportedOperationException("stub")
    }
}

class OneTimeWorkRequest internal constructor() : WorkRequest() {
    class Builder(workerClass: Class<out ListenableWorker>) : WorkRequest.Builder<Builder, OneTimeWorkRequest>()
}

inline fun <reified W : ListenableWorker> OneTimeWorkRequestBuilder(): OneTimeWorkRequest.Builder =
    OneTimeWorkRequest.Builder(W::class.java)

interface Operation {
    abstract class State internal constructor() {
        class SUCCESS internal constructor() : State()
    }
}

suspend fun Operation.await(): Operation.State.SUCCESS = throw UnsupportedOperationException("stub")

class WorkInfo private constructor() {
    val id: UUID
        get() = throw UnsupportedOperationException("stub")

    val state: State
        get() = throw UnsupportedOperationException("stub")

    val outputData: Data
        get() = throw UnsupportedOperationException("stub")

    val progress: Data
        get() = throw UnsupportedOperationException("stub")

    enum class State {
        ENQUEUED,
        RUNNING,
        SUCCEEDED,
        FAILED,
        BLOCKED,
        CANCELLED;

        val isFinished: Boolean
            get() = this == SUCCEEDED || this == FAILED || this == CANCELLED
    }
}

abstract class WorkManager internal constructor() {
    companion object {
        @JvmStatic
        fun getInstance(context: Context): WorkManager = throw UnsupportedOperationException("stub")
    }

    open fun enqueueUniqueWork(
        uniqueWorkName: String,
        existingWorkPolicy: ExistingWorkPolicy,
        request: OneTimeWorkRequest,
    ): Operation = throw UnsupportedOperationException("stub")

    abstract fun cancelUniqueWork(uniqueWorkName: String): Operation

    abstract fun getWorkInfosForUniqueWorkFlow(uniqueWorkName: String): Flow<List<WorkInfo>>
}
