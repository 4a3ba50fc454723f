// Stand-in for the part of Apple's Mach task API generated code uses; Linux has no Mach. On iOS
// these come from the Darwin module, which Foundation re-exports; they sit in this `os` stand-in
// because a module named Darwin would switch `swift test`'s generated runner on Linux to its
// Darwin-only XCTest code. Declarations as the iOS SDK's headers import them into Swift:
//   <mach/i386|arm/vm_types.h>, <mach/message.h>: natural_t = UInt32, integer_t = Int32,
//     mach_msg_type_number_t = natural_t, mach_port_t = UInt32 (task_name_t, task_t)
//   <mach/kern_return.h>: kern_return_t = Int32, KERN_SUCCESS 0
//   <mach/task_info.h>: task_flavor_t = natural_t, task_info_t = UnsafeMutablePointer<integer_t>,
//     TASK_VM_INFO 22, struct task_vm_info (phys_footprint: UInt64 among many fields)
//   <mach/task.h>: kern_return_t task_info(task_name_t, task_flavor_t, task_info_t, mach_msg_type_number_t *)
//   <mach/mach_init.h>: mach_port_t mach_task_self_
// The stand-in reports failure, so the generated code's fallback (no footprint) is what runs here.
public typealias natural_t = UInt32
public typealias integer_t = Int32
public typealias mach_msg_type_number_t = natural_t
public typealias mach_port_t = UInt32
public typealias task_name_t = mach_port_t
public typealias kern_return_t = Int32
public typealias task_flavor_t = natural_t
public typealias task_info_t = UnsafeMutablePointer<integer_t>

public var KERN_SUCCESS: Int32 { 0 }
public var KERN_FAILURE: Int32 { 5 }
public var TASK_VM_INFO: Int32 { 22 }
public var mach_task_self_: mach_port_t = 0

public struct task_vm_info {
    public var virtual_size: UInt64
    public var phys_footprint: UInt64

    public init() {
        virtual_size = 0
        phys_footprint = 0
    }
}

public typealias task_vm_info_data_t = task_vm_info

public func task_info(
    _ target_task: task_name_t, _ flavor: task_flavor_t, _ task_info_out: task_info_t!,
    _ task_info_outCnt: UnsafeMutablePointer<mach_msg_type_number_t>!
) -> kern_return_t {
    return KERN_FAILURE
}
