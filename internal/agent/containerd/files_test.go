package containerd

import "testing"

func TestResolvConfDropsLoopback(t *testing.T) {
	in := "# comment\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nnameserver ::1\noptions edns0 trust-ad\nsearch lan\nbogus line\n"
	want := "# written by esb agent\nnameserver 192.168.1.1\noptions edns0 trust-ad\nsearch lan\n"
	if got := string(resolvConf([]byte(in))); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestWorkerSeccomp(t *testing.T) {
	sc := workerSeccomp()
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
