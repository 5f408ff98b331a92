package s3_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestIntegrationConsoleBrowser clicks through the web console in headless
// Chromium: sign in, open a bucket, upload a file, download it, make a
// presigned link, delete the object, and saves screenshots
// ($ESB_TEST_ARTIFACTS, else the test's temporary directory).
func TestIntegrationConsoleBrowser(t *testing.T) {
	srv := sharedServer(t)
	c := srv.client()
	ctx := ctxT(t)
	bucket := newBucket(t, c, "console")
	shots := os.Getenv("ESB_TEST_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	b := startChromium(t)
	browserCDP := dialCDP(t, b.wsURL)
	downloads := t.TempDir()
	if err := browserCDP.call(ctx, "Browser.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": downloads}, nil); err != nil {
		t.Fatal(err)
	}
	p := b.firstPage(t, ctx)
	consoleURL := "http://127.0.0.1:" + srv.console + "/"
	p.navigate(consoleURL)

	// Sign in.
	p.waitFor("sign-in form", `!document.getElementById("login-view").hidden`)
	p.typeInto("#access-key", testAccess)
	p.typeInto("#secret-key", testSecret)
	p.click("#login-button")
	p.waitFor("bucket list", `document.querySelector('a.bucket-link[data-bucket=`+jsString(bucket)+`]')`)

	// Create a bucket from the console.
	made := bucket + "-ui"
	p.typeInto("#new-bucket", made)
	p.click(`#create-bucket-form button[type=submit]`)
	p.waitFor("created bucket", `document.querySelector('a.bucket-link[data-bucket=`+jsString(made)+`]')`)
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &made}); err != nil {
		t.Fatalf("bucket created in the console: %v", err)
	}

	// Open the bucket and upload a file through the file picker.
	p.click(`a.bucket-link[data-bucket=` + jsString(bucket) + `]`)
	p.waitFor("object view", `!document.getElementById("objects-view").hidden`)
	content := []byte("uploaded from headless chromium " + time.Now().Format(time.RFC3339Nano))
	local := filepath.Join(t.TempDir(), "browser upload.txt")
	if err := os.WriteFile(local, content, 0o644); err != nil {
		t.Fatal(err)
	}
	p.setFile("#upload-file", local)
	p.click("#upload-button")
	p.waitFor("uploaded object row", `document.querySelector('tr[data-key="browser upload.txt"]')`)
	got, _ := get(t, c, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("browser upload.txt")})
	if !bytes.Equal(got, content) {
		t.Fatalf("object uploaded by the browser: %q", got)
	}
	p.screenshot(filepath.Join(shots, "s3-console-upload.png"))

	// Download it with the row's link.
	p.click(`tr[data-key="browser upload.txt"] a.download`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(downloads, "browser upload.txt"))
		if err == nil && bytes.Equal(data, content) {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("download did not arrive: %v (dir: %v)", err, entries)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Presigned link, fetched outside the browser.
	p.click(`tr[data-key="browser upload.txt"] button.presign`)
	p.waitFor("presigned link", `document.getElementById("presigned-url").value.includes("X-Amz-Signature")`)
	var url string
	if err := jsonUnmarshal(p.eval(`document.getElementById("presigned-url").value`), &url); err != nil {
		t.Fatal(err)
	}
	if status, body := httpGet(t, url); status != 200 || body != string(content) {
		t.Fatalf("presigned link from the console: %d %q", status, body)
	}
	p.screenshot(filepath.Join(shots, "s3-console-presign.png"))

	// Delete it (the confirmation dialog is accepted).
	p.eval(`window.confirm = () => true`)
	p.click(`tr[data-key="browser upload.txt"] button.delete`)
	p.waitFor("row removed", `!document.querySelector('tr[data-key="browser upload.txt"]') && document.getElementById("status").textContent.startsWith("Deleted")`)
	if exists(t, c, bucket, "browser upload.txt") {
		t.Fatal("object still exists after delete in the console")
	}
	status := string(p.eval(`document.getElementById("status").className`))
	if strings.Contains(status, "error") {
		t.Fatalf("console shows an error: %s", p.eval(`document.getElementById("status").textContent`))
	}
	t.Logf("screenshots in %s", shots)
}
