package store

import (
	"encoding/binary"
	"hash/fnv"
	"time"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
)

// KeyAttr is a key attribute: its name and type (S, N or B).
type KeyAttr struct {
	Name string    `json:"name"`
	Type attr.Kind `json:"type"`
}

// IndexDef describes a global or local secondary index.
type IndexDef struct {
	Name           string   `json:"name"`
	Global         bool     `json:"global"`
	Hash           KeyAttr  `json:"hash"`
	Range          *KeyAttr `json:"range,omitempty"`
	ProjectionType string   `json:"projection_type"` // ALL, KEYS_ONLY, INCLUDE
	NonKey         []string `json:"non_key,omitempty"`
	ReadCapacity   int64    `json:"rcu,omitempty"`
	WriteCapacity  int64    `json:"wcu,omitempty"`
	Created        int64    `json:"created"`
}

// TableDef is a table's schema and settings as stored in the catalogue.
type TableDef struct {
	Name          string         `json:"name"`
	ID            string         `json:"id"`
	Created       time.Time      `json:"created"`
	Hash          KeyAttr        `json:"hash"`
	Range         *KeyAttr       `json:"range,omitempty"`
	Attributes    []KeyAttr      `json:"attributes"`
	GSIs          []IndexDef     `json:"gsis,omitempty"`
	LSIs          []IndexDef     `json:"lsis,omitempty"`
	BillingMode   string         `json:"billing_mode"`
	ReadCapacity  int64          `json:"rcu,omitempty"`
	WriteCapacity int64          `json:"wcu,omitempty"`
	TTLAttr       string         `json:"ttl_attr,omitempty"`
	TTLEnabled    bool           `json:"ttl_enabled,omitempty"`
	StreamEnabled bool           `json:"stream_enabled,omitempty"`
	StreamView    string         `json:"stream_view,omitempty"`
	DeletionProt  bool           `json:"deletion_protection,omitempty"`
	TableClass    string         `json:"table_class,omitempty"`
	Tags          []Tag          `json:"tags,omitempty"`
	Extra         map[string]any `json:"extra,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Index returns the secondary index with the given name.
func (d *TableDef) Index(name string) *IndexDef {
	for i := range d.GSIs {
		if d.GSIs[i].Name == name {
			return &d.GSIs[i]
		}
	}
	for i := range d.LSIs {
		if d.LSIs[i].Name == name {
			return &d.LSIs[i]
		}
	}
	return nil
}

// Indexes returns every secondary index, GSIs first.
func (d *TableDef) Indexes() []*IndexDef {
	out := make([]*IndexDef, 0, len(d.GSIs)+len(d.LSIs))
	for i := range d.GSIs {
		out = append(out, &d.GSIs[i])
	}
	for i := range d.LSIs {
		out = append(out, &d.LSIs[i])
	}
	return out
}

// KeyNames returns the table's key attribute names.
func (d *TableDef) KeyNames() []string {
	if d.Range != nil {
		return []string{d.Hash.Name, d.Range.Name}
	}
	return []string{d.Hash.Name}
}

// hashPrefix spreads partition keys over the key space (as DynamoDB's hash
// partitioning does) so Scan segments are contiguous key ranges.
func hashPrefix(buf []byte, enc []byte) []byte {
	h := fnv.New32a()
	h.Write(enc)
	return binary.BigEndian.AppendUint32(buf, h.Sum32())
}

// PartitionPrefix returns the key prefix shared by every item (or index
// entry) whose partition key is hv.
func PartitionPrefix(hv attr.Value) []byte {
	enc := attr.AppendKey(make([]byte, 0, len(hv.S)+8), hv)
	out := make([]byte, 0, 4+len(enc)+32)
	out = hashPrefix(out, enc)
	return append(out, enc...)
}

// KeyOf returns the stored key of the item for the given key attributes; ok
// is false when the item lacks one of them or has the wrong type.
func KeyOf(it attr.Item, hash KeyAttr, rng *KeyAttr) ([]byte, bool) {
	hv, ok := it[hash.Name]
	if !ok || hv.Kind != hash.Type {
		return nil, false
	}
	k := PartitionPrefix(hv)
	if rng != nil {
		rv, ok := it[rng.Name]
		if !ok || rv.Kind != rng.Type {
			return nil, false
		}
		k = attr.AppendKey(k, rv)
	}
	return k, true
}

// ItemKey returns the item's primary key in storage form.
func (d *TableDef) ItemKey(it attr.Item) ([]byte, bool) { return KeyOf(it, d.Hash, d.Range) }

// entryKey returns the index entry key for the item, or nil if the item does
// not appear in the index (sparse index).
func (x *IndexDef) entryKey(it attr.Item, itemKey []byte) []byte {
	k, ok := KeyOf(it, x.Hash, x.Range)
	if !ok {
		return nil
	}
	return append(k, itemKey...)
}

// IndexKeys returns the names of the attributes of an index entry's key:
// the index keys then the table keys.
func (d *TableDef) IndexKeys(x *IndexDef) []string {
	names := []string{x.Hash.Name}
	if x.Range != nil {
		names = append(names, x.Range.Name)
	}
	for _, n := range d.KeyNames() {
		if n != names[0] && (len(names) < 2 || n != names[1]) {
			names = append(names, n)
		}
	}
	return names
}

// IndexEntryKey returns the storage key of the index entry for the item.
func (d *TableDef) IndexEntryKey(x *IndexDef, it attr.Item) ([]byte, bool) {
	ik, ok := d.ItemKey(it)
	if !ok {
		return nil, false
	}
	k := x.entryKey(it, ik)
	return k, k != nil
}

// ExpiryOf returns the item's expiry (epoch seconds) under the table's TTL
// setting, or 0 when it has none.
func (d *TableDef) ExpiryOf(it attr.Item) int64 {
	if !d.TTLEnabled || d.TTLAttr == "" {
		return 0
	}
	return expiryOf(it, d.TTLAttr)
}

func expiryOf(it attr.Item, name string) int64 {
	v, ok := it[name]
	if !ok || v.Kind != attr.KindN {
		return 0
	}
	n, err := attr.ParseNumber(v.S)
	if err != nil || n.Neg || n.Digits == "" || n.Exp > 18 {
		return 0
	}
	var secs int64
	for i := 0; i < n.Exp; i++ {
		d := int64(0)
		if i < len(n.Digits) {
			d = int64(n.Digits[i] - '0')
		}
		secs = secs*10 + d
	}
	return secs
}
