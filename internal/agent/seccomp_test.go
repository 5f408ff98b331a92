package agent

import "testing"

func TestWorkerSeccomp(t *testing.T) {
	sc := WorkerSeccomp()
	if sc.DefaultAction != "SCMP_ACT_ALLOW" || len(sc.Architectures) == 0 {
		t.Fatalf("filter %+v", sc)
	}
	denied := map[string]bool{}
	for _, r := range sc.Syscalls {
		for _, n := range r.Names {
			if r.Action == "SCMP_ACT_ERRNO" && len(r.Args) == 0 {
				denied[n] = true
			}
		}
	}
	for _, n := range []string{"keyctl", "bpf", "mount", "unshare", "setns", "ptrace", "perf_event_open", "userfaultfd", "kexec_load", "init_module", "clone3"} {
		if !denied[n] {
			t.Errorf("%s is not denied", n)
		}
	}
	if denied["clone"] || denied["read"] {
		t.Error("clone or read denied outright")
	}
}
