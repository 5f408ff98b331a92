package agent

import (
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cloneNewUser is CLONE_NEWUSER: creating a user namespace needs no
// capability, so clone is refused with it.
const cloneNewUser = 0x10000000

// deniedSyscalls are refused with EPERM inside workers: kernel keyrings,
// BPF, perf, module loading, mounts and namespaces, clocks, swap, reboot,
// cross-process memory access and tracing — the calls Docker's default
// profile leaves out that a function has no business making.
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
	"kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree", "perf_event_open", "pivot_root",
	"process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl",
	"quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns", "settimeofday",
	"swapoff", "swapon", "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib",
	"userfaultfd", "ustat", "vm86", "vm86old",
}

// WorkerSeccomp is the seccomp filter of every worker (both modes): allow by
// default, deny the calls above (and clone3, which reports ENOSYS so libc
// falls back to clone, and clone with CLONE_NEWUSER). Together with no
// capabilities and no_new_privs it closes what Docker's allowlist closes
// for a function, but compiles in a fraction of the time: runc compiles the
// filter at every start, and containerd's ~350-rule default profile costs
// 45–100 ms of a ~230 ms start on a 2-core machine.
func WorkerSeccomp() *specs.LinuxSeccomp {
	archs := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	if runtime.GOARCH == "arm64" {
		archs = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	eperm, enosys := uint(1), uint(38)
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: archs,
		Syscalls: []specs.LinuxSyscall{
			{Names: deniedSyscalls, Action: specs.ActErrno, ErrnoRet: &eperm},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
			{Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &eperm,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: cloneNewUser, ValueTwo: cloneNewUser, Op: specs.OpMaskedEqual}}},
		},
	}
}
