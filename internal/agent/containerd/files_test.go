package containerd

import "testing"

func TestResolvConfDropsLoopback(t *testing.T) {
	in := "# comment\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nnameserver ::1\noptions edns0 trust-ad\nsearch lan\nbogus line\n"
	want := "# written by esb agent\nnameserver 192.168.1.1\noptions edns0 trust-ad\nsearch lan\n"
	if got := string(resolvConf([]byte(in))); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
