package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
)

// epoch is the modification time of every file in a function layer (and
// the creation time of images), so a digest depends only on the files'
// names, modes and contents.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// fileEntry is one file, directory or symbolic link of a layer.
type fileEntry struct {
	// name is the path in the image, without the leading slash.
	name string
	typ  byte // tar.TypeDir, tar.TypeReg or tar.TypeSymlink
	mode int64
	size int64
	link string // symlink target
	src  string // host file of a regular file
	data []byte // content of a generated regular file (src empty)
	uid  int
	gid  int
	// mtime is kept for base layers (compiled Python files check it);
	// function layers use epoch.
	mtime time.Time
}

// layerFiles is the content of one layer, sorted by name with every parent
// directory present, so the tar it renders is the same byte for byte
// whenever the inputs are.
type layerFiles struct {
	entries []fileEntry
}

// newLayerFiles sorts entries, drops duplicates (the last one wins) and adds
// missing parent directories (mode 0755, root, Epoch).
func newLayerFiles(entries []fileEntry) *layerFiles {
	byName := make(map[string]fileEntry, len(entries))
	for _, e := range entries {
		e.name = strings.Trim(path.Clean("/"+e.name), "/")
		if e.name == "" {
			continue
		}
		byName[e.name] = e
	}
	for name := range byName {
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := byName[dir]; ok {
				break
			}
			byName[dir] = fileEntry{name: dir, typ: tar.TypeDir, mode: 0o755, mtime: epoch()}
		}
	}
	out := make([]fileEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return &layerFiles{entries: out}
}

// writeTar writes the layer as an uncompressed tar.
func (l *layerFiles) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	for _, e := range l.entries {
		hdr := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Linkname: e.link,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			ModTime:  e.mtime.Truncate(time.Second),
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = epoch()
		}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write layer entry %s: %w", e.name, err)
		}
		if e.typ != tar.TypeReg {
			continue
		}
		if err := copyFile(tw, e, buf); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyFile(w io.Writer, e fileEntry, buf []byte) error {
	if e.src == "" {
		_, err := w.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.src, err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(f, e.size), buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.src, err)
	}
	if n != e.size {
		return fmt.Errorf("read %s: it changed size while the layer was written; build again", e.src)
	}
	return nil
}

// digest computes the layer's digest without storing it.
func (l *layerFiles) digest() (digest.Digest, int64, error) {
	h := sha256.New()
	cw := &countWriter{w: h}
	if err := l.writeTar(cw); err != nil {
		return "", 0, err
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), cw.n, nil
}

// size is the sum of the regular files' sizes.
func (l *layerFiles) size() int64 {
	var n int64
	for _, e := range l.entries {
		n += e.size
	}
	return n
}

// tarMode maps a file mode to tar's permission bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// copyEntries lists what `COPY src dest` puts into the image: a directory
// source (trailing slash) copies the directory's contents into dest, a file
// source becomes dest. Files are owned by root and dated epoch; modes and
// symbolic links are kept. Paths in exclude (absolute host paths, e.g. the
// output directory when it lies inside the code) are left out.
func copyEntries(hostSrc, src, dest string, exclude []string) ([]fileEntry, error) {
	fi, err := os.Stat(hostSrc)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s does not exist", src)
		}
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	dest = strings.TrimPrefix(dest, "/")
	if !fi.IsDir() {
		if strings.HasSuffix(src, "/") {
			return nil, fmt.Errorf("%s is not a directory", src)
		}
		name := dest
		if strings.HasSuffix(dest, "/") {
			name = dest + filepath.Base(hostSrc)
		}
		return []fileEntry{{name: name, typ: tar.TypeReg, mode: tarMode(fi.Mode()), size: fi.Size(), src: hostSrc, mtime: epoch()}}, nil
	}
	dest = strings.TrimSuffix(dest, "/")
	var out []fileEntry
	err = filepath.WalkDir(hostSrc, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		for _, x := range exclude {
			if p == x {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		rel, err := filepath.Rel(hostSrc, p)
		if err != nil {
			return err
		}
		if rel == "." {
			if dest != "" {
				out = append(out, fileEntry{name: dest, typ: tar.TypeDir, mode: 0o755, mtime: epoch()})
			}
			return nil
		}
		name := path.Join(dest, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		e := fileEntry{name: name, mode: tarMode(info.Mode()), mtime: epoch()}
		switch {
		case info.Mode().IsDir():
			e.typ = tar.TypeDir
		case info.Mode().IsRegular():
			e.typ, e.size, e.src = tar.TypeReg, info.Size(), p
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			e.typ, e.link, e.mode = tar.TypeSymlink, link, 0o777
		default:
			return fmt.Errorf("%s is a %s, which an image cannot hold; remove it from the code directory", p, info.Mode().Type())
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hostEntry describes a host file as it is (mode, owner, time), for base
// images assembled from installed packages. name is the path in the image.
func hostEntry(name, hostPath string) (fileEntry, error) {
	fi, err := os.Lstat(hostPath)
	if err != nil {
		return fileEntry{}, err
	}
	e := fileEntry{name: name, mode: tarMode(fi.Mode()), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.uid, e.gid = int(st.Uid), int(st.Gid)
	}
	switch {
	case fi.IsDir():
		e.typ = tar.TypeDir
	case fi.Mode().IsRegular():
		e.typ, e.size, e.src = tar.TypeReg, fi.Size(), hostPath
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(hostPath)
		if err != nil {
			return fileEntry{}, err
		}
		e.typ, e.link, e.mode = tar.TypeSymlink, link, 0o777
	default:
		return fileEntry{}, fmt.Errorf("%s is a %s", hostPath, fi.Mode().Type())
	}
	return e, nil
}
