package gw

import "testing"

func TestVirtualHostBucket(t *testing.T) {
	domains := []string{"s3-storage", "localhost"}
	for host, want := range map[string]string{
		"photos.s3-storage:9000":          "photos",
		"photos.s3-storage":               "photos",
		"my.dotted.bucket.localhost:9000": "my.dotted.bucket",
		"Photos.LOCALHOST:9000":           "photos",
		"localhost:9000":                  "",
		"s3-storage":                      "",
		".localhost":                      "",
		"127.0.0.1:9000":                  "",
		"[::1]:9000":                      "",
		"photos.example.com:9000":         "",
		"photoslocalhost:9000":            "",
	} {
		if got := VirtualHostBucket(host, domains); got != want {
			t.Errorf("VirtualHostBucket(%q) = %q, want %q", host, got, want)
		}
	}
	if got := VirtualHostBucket("photos.localhost", nil); got != "" {
		t.Errorf("no domains: got %q", got)
	}
}

func BenchmarkVirtualHostBucket(b *testing.B) {
	domains := []string{"s3-storage", "localhost"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		VirtualHostBucket("127.0.0.1:9000", domains)
	}
}
