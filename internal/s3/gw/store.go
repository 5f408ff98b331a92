package gw

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/s3api/middlewares"
	"github.com/versity/versitygw/s3err"
	"github.com/versity/versitygw/s3response"
	"golang.org/x/sys/unix"
)

// Names and values of versitygw's POSIX store (backend/posix, v1.8) that the
// fast PutObject path writes. TestStorePutObjectSameBytesOnDisk compares every
// extended attribute with what versitygw itself writes for the same request, so
// a newer versitygw that changes one fails it.
const (
	tmpDir           = ".sgwtmp"   // posix.MetaTmpDir: where O_TMPFILE objects are staged
	attrChecksums    = "checksums" // JSON of s3response.Checksum
	attrETag         = "etag"
	crc64NVMEPoly    = 0x9a6c_9329_ac4b_c9b5
	newFilePerm      = 0o644
	newDirPerm       = 0o755
	pipelineMin      = 1 << 20 // bodies from this size hash on separate goroutines
	pipelineBufSize  = 1 << 20
	pipelineBuffers  = 4
	smallBufSize     = 32 << 10 // bodies under pipelineMin are read through this
	maxLinkTmpChoice = 3
)

// store is versitygw's POSIX backend with one method replaced: PutObject of a
// plain object (no versioning, conditions, tags, object lock or client-chosen
// checksum) is written here, with the MD5 (the ETag) and
// CRC64NVME (the stored full-object checksum) of large bodies computed on two
// goroutines alongside the file write, where versitygw computes both in series
// with it. The object on disk is the same: an O_TMPFILE staged in the bucket's
// .sgwtmp directory, the same extended attributes with the same bytes, linked
// into place atomically. Every other request, and every PutObject outside that
// case, is versitygw's own.
type store struct {
	*posix.Posix
	root   string // absolute path of the buckets directory
	meta   meta.MetadataStorer
	fast   bool // metadata in xattrs and O_TMPFILE available
	crcTab *crc64.Table
	bufs   sync.Pool // *[pipelineBufSize]byte
	small  sync.Pool // *[smallBufSize]byte
}

// newStore wraps be, opened at root. fast enables the replaced PutObject; it
// needs metadata in extended attributes (side-file metadata is versitygw's).
func newStore(be *posix.Posix, root string, md meta.MetadataStorer, fast bool) *store {
	s := &store{Posix: be, root: root, meta: md, fast: fast, crcTab: crc64.MakeTable(crc64NVMEPoly)}
	s.bufs.New = func() any { return new([pipelineBufSize]byte) }
	s.small.New = func() any { return new([smallBufSize]byte) }
	return s
}

// PutObject writes plain objects itself and hands every other case to
// versitygw.
func (s *store) PutObject(ctx context.Context, po s3response.PutObjectInput) (s3response.PutObjectOutput, error) {
	if !s.fast || !s.plainPut(ctx, po) {
		return s.Posix.PutObject(ctx, po)
	}
	out, handled, err := s.putPlain(ctx, po)
	if !handled {
		return s.Posix.PutObject(ctx, po)
	}
	return out, err
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// plainPut reports whether po is a request the fast path writes exactly as
// versitygw would: a file object in a bucket that never had versioning,
// without conditions, tags, object lock, or a checksum the
// client chose (versitygw then stores CRC64NVME, S3's default).
func (s *store) plainPut(ctx context.Context, po s3response.PutObjectInput) bool {
	if po.Bucket == nil || po.Key == nil || po.ContentLength == nil || *po.ContentLength < 0 || po.Body == nil {
		return false
	}
	key := *po.Key
	if key == "" || strings.HasSuffix(key, "/") || strings.HasPrefix(key, "/") || filepath.Clean(key) != key || strings.HasPrefix(key, "..") {
		return false
	}
	if strings.ContainsRune(*po.Bucket, '/') || *po.Bucket == "" || strings.HasPrefix(*po.Bucket, ".") {
		return false
	}
	if str(po.Tagging) != "" || po.IfMatch != nil || po.IfNoneMatch != nil {
		return false
	}
	if po.ObjectLockMode != "" || po.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn ||
		(po.ObjectLockRetainUntilDate != nil && !po.ObjectLockRetainUntilDate.IsZero()) {
		return false
	}
	if po.ChecksumAlgorithm != "" && po.ChecksumAlgorithm != types.ChecksumAlgorithmCrc64nvme {
		return false
	}
	for _, v := range []*string{po.ChecksumCRC32, po.ChecksumCRC32C, po.ChecksumSHA1, po.ChecksumSHA256,
		po.ChecksumCRC64NVME, po.ChecksumSHA512, po.ChecksumMD5, po.ChecksumXXHASH64, po.ChecksumXXHASH3, po.ChecksumXXHASH128} {
		if v != nil {
			return false
		}
	}
	if cr, ok := po.Body.(middlewares.ChecksumReader); ok && cr.Algorithm() != "" {
		return false // trailing checksum: versitygw verifies it
	}
	// The bucket's versioning state decides whether the old object is kept;
	// only a bucket that never had versioning is written here. (This also
	// answers NoSuchBucket through versitygw when the bucket is missing.)
	v, err := s.Posix.GetBucketVersioning(ctx, *po.Bucket)
	return err == nil && (v.Status == nil || *v.Status == "")
}

// putPlain stages, hashes, tags and links one object. handled is false when a
// condition appeared that versitygw answers (a directory in the way, no
// O_TMPFILE), before anything was read from the body.
func (s *store) putPlain(ctx context.Context, po s3response.PutObjectInput) (out s3response.PutObjectOutput, handled bool, err error) {
	bucket, key, size := *po.Bucket, *po.Key, *po.ContentLength
	name := filepath.Join(s.root, bucket, key)
	if fi, err := os.Stat(name); err == nil && fi.IsDir() || err != nil && !errors.Is(err, fs.ErrNotExist) {
		return out, false, nil // ExistingObjectIsDirectory, KeyTooLong, a file as parent: versitygw's answers
	}
	fd, err := unix.Open(filepath.Join(s.root, bucket, tmpDir), unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, newFilePerm)
	if err != nil {
		return out, false, nil
	}
	f := os.NewFile(uintptr(fd), "object "+bucket+"/"+key)
	defer f.Close()
	// open() masks the mode with the umask; versitygw sets it explicitly.
	if err := unix.Fchmod(fd, newFilePerm); err != nil {
		return out, true, fmt.Errorf("set mode of staged object %s/%s: %w", bucket, key, err)
	}
	if size > 0 {
		_ = unix.Fallocate(fd, 0, 0, size) // best effort, as versitygw
	}

	md5h, crc := md5.New(), crc64.New(s.crcTab)
	var written int64
	if size >= pipelineMin {
		written, err = s.copyHashed(f, po.Body, md5h, crc)
	} else {
		written, err = s.copySmall(f, po.Body, md5h, crc)
	}
	if err != nil {
		switch {
		case errors.Is(err, syscall.EDQUOT):
			drain(po.Body)
			return out, true, s3err.GetAPIError(s3err.ErrQuotaExceeded)
		case errors.Is(err, syscall.ENOSPC):
			drain(po.Body)
			return out, true, s3err.GetAPIError(s3err.ErrNoSpaceLeftOnDevice)
		}
		var s3e s3err.S3Error
		if errors.As(err, &s3e) {
			return out, true, err
		}
		return out, true, fmt.Errorf("write object data: %w", err)
	}
	if written < size {
		// The body ended before Content-Length (a browser form's epilogue
		// counted in it): keep what was sent, as versitygw does.
		if err := f.Truncate(written); err != nil {
			return out, true, fmt.Errorf("truncate object to actual size: %w", err)
		}
	}

	sum := base64.StdEncoding.EncodeToString(crc.Sum(nil))
	etag := backend.GenerateEtag(md5h)
	checksum := s3response.Checksum{Type: types.ChecksumTypeFullObject, Algorithm: types.ChecksumAlgorithmCrc64nvme, CRC64NVME: &sum}
	chs, err := json.Marshal(checksum)
	if err != nil {
		return out, true, fmt.Errorf("encode checksum: %w", err)
	}
	// Same attributes, same order as versitygw's PutObject.
	attrs := []struct {
		name  string
		value string
	}{
		{attrChecksums, string(chs)},
		{attrETag, etag},
		{"content-type", str(po.ContentType)},
		{"content-encoding", str(po.ContentEncoding)},
		{"content-disposition", str(po.ContentDisposition)},
		{"content-language", str(po.ContentLanguage)},
		{"cache-control", str(po.CacheControl)},
		{"expires", str(po.Expires)},
		{"website-redirect-location", str(po.WebsiteRedirectLocation)},
	}
	if len(po.Metadata) > 0 {
		m, err := json.Marshal(po.Metadata)
		if err != nil {
			return out, true, fmt.Errorf("encode metadata: %w", err)
		}
		attrs = append(attrs, struct {
			name  string
			value string
		}{"metadata", string(m)})
	}
	for i, a := range attrs {
		if a.value == "" && i >= 2 {
			continue
		}
		if err := s.meta.StoreAttribute(f, bucket, key, a.name, []byte(a.value)); err != nil {
			return out, true, fmt.Errorf("set %s attribute of %s/%s: %w", a.name, bucket, key, err)
		}
	}

	if err := s.link(fd, name); err != nil {
		return out, true, err
	}
	return s3response.PutObjectOutput{
		ETag:              etag,
		ChecksumCRC64NVME: &sum,
		ChecksumType:      checksum.Type,
		Size:              &written,
	}, true, nil
}

// copySmall reads the body through one small pooled buffer, hashing each
// chunk on this goroutine: for small bodies goroutines cost more than they
// save, and many concurrent small PUTs must not each hold (or, after a GC
// emptied the pool, allocate and zero) a 1 MiB buffer.
func (s *store) copySmall(f *os.File, body io.Reader, md5h, crc hash.Hash) (int64, error) {
	bp := s.small.Get().(*[smallBufSize]byte)
	defer s.small.Put(bp)
	var n int64
	for {
		k, rerr := io.ReadFull(body, bp[:])
		if k > 0 {
			chunk := bp[:k]
			md5h.Write(chunk)
			crc.Write(chunk)
			if _, err := f.Write(chunk); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// copyHashed writes the body to f while one goroutine computes the MD5 and
// another the CRC64NVME of the same chunks. Chunks rotate through a few pooled
// buffers; a buffer is refilled only once both hashes are done with it.
func (s *store) copyHashed(f *os.File, body io.Reader, md5h, crc hash.Hash) (int64, error) {
	type slot struct {
		buf  *[pipelineBufSize]byte
		n    int
		busy sync.WaitGroup
	}
	var slots [pipelineBuffers]slot
	for i := range slots {
		slots[i].buf = s.bufs.Get().(*[pipelineBufSize]byte)
	}
	toMD5 := make(chan *slot, pipelineBuffers)
	toCRC := make(chan *slot, pipelineBuffers)
	var workers sync.WaitGroup
	hashWorker := func(h hash.Hash, in <-chan *slot) {
		defer workers.Done()
		for sl := range in {
			h.Write(sl.buf[:sl.n])
			sl.busy.Done()
		}
	}
	workers.Add(2)
	go hashWorker(md5h, toMD5)
	go hashWorker(crc, toCRC)
	defer func() {
		close(toMD5)
		close(toCRC)
		workers.Wait()
		for i := range slots {
			s.bufs.Put(slots[i].buf)
		}
	}()

	var n int64
	for i := 0; ; i++ {
		sl := &slots[i%pipelineBuffers]
		sl.busy.Wait()
		k, rerr := io.ReadFull(body, sl.buf[:])
		if k > 0 {
			sl.n = k
			sl.busy.Add(2)
			toMD5 <- sl
			toCRC <- sl
			if _, err := f.Write(sl.buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// link publishes the staged file fd at name: linkat of /proc/self/fd/N, or,
// when an object is already there, linkat to a temporary name in the same
// directory and an atomic rename over it (what versitygw does).
func (s *store) link(fd int, name string) error {
	dir := filepath.Dir(name)
	if err := backend.MkdirAll(dir, 0, 0, false, newDirPerm); err != nil {
		return s3err.GetAPIError(s3err.ErrExistingObjectIsDirectory)
	}
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, name, unix.AT_SYMLINK_FOLLOW)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("link object %s: %w", name, err)
	}
	for try := 1; ; try++ {
		tmp := filepath.Join(dir, "."+filepath.Base(name)+".sgwtmp."+strconv.FormatInt(time.Now().UnixNano(), 10))
		err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW)
		if errors.Is(err, syscall.EEXIST) && try < maxLinkTmpChoice {
			continue
		}
		if err != nil {
			return fmt.Errorf("link object %s under a temporary name: %w", name, err)
		}
		if err := unix.Rename(tmp, name); err != nil {
			_ = unix.Unlink(tmp)
			if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) {
				return s3err.GetAPIError(s3err.ErrExistingObjectIsDirectory)
			}
			return fmt.Errorf("replace object %s: %w", name, err)
		}
		return nil
	}
}

func drain(r io.Reader) { _, _ = io.Copy(io.Discard, r) }
