package dynamo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/expr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/store"
)

const (
	maxHashKey  = 2048
	maxRangeKey = 1024
)

// lookupTable returns a table for an item operation.
func (s *Server) lookupTable(name string) (*store.TableDef, error) {
	if err := validTableName("tableName", name); err != nil {
		return nil, err
	}
	d := s.db.Table(name)
	if d == nil {
		return nil, notFound()
	}
	return d, nil
}

func emptyKeyErr(name string, k attr.Kind) *APIError {
	what := "string"
	if k == attr.KindB {
		what = "binary"
	}
	return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", what, name)
}

func checkKeySize(v attr.Value, isHash bool) *APIError {
	if v.Kind == attr.KindN {
		return nil
	}
	if isHash && len(v.S) > maxHashKey {
		return validation("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes")
	}
	if !isHash && len(v.S) > maxRangeKey {
		return validation("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
	}
	return nil
}

// keyFromKey validates a Key parameter against the table's schema and
// returns its storage key.
func keyFromKey(d *store.TableDef, key attr.Item) ([]byte, error) {
	if key == nil {
		return nil, notNull("key")
	}
	want := 1
	if d.Range != nil {
		want = 2
	}
	if len(key) != want {
		return nil, validation("The provided key element does not match the schema")
	}
	for i, ka := range []*store.KeyAttr{&d.Hash, d.Range} {
		if ka == nil {
			continue
		}
		v, ok := key[ka.Name]
		if !ok || v.Kind != ka.Type {
			return nil, validation("The provided key element does not match the schema")
		}
		if v.S == "" && v.Kind != attr.KindN {
			return nil, emptyKeyErr(ka.Name, v.Kind)
		}
		if err := checkKeySize(v, i == 0); err != nil {
			return nil, err
		}
	}
	k, _ := d.ItemKey(key)
	return k, nil
}

// keyFromItem validates an item for PutItem (keys, index keys, size) and
// returns its storage key and size.
func keyFromItem(d *store.TableDef, it attr.Item) ([]byte, int, error) {
	if it == nil {
		return nil, 0, notNull("item")
	}
	for i, ka := range []*store.KeyAttr{&d.Hash, d.Range} {
		if ka == nil {
			continue
		}
		v, ok := it[ka.Name]
		if !ok {
			return nil, 0, validation("One or more parameter values were invalid: Missing the key %s in the item", ka.Name)
		}
		if v.Kind != ka.Type {
			return nil, 0, validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", ka.Name, ka.Type, v.Kind)
		}
		if v.S == "" && v.Kind != attr.KindN {
			return nil, 0, emptyKeyErr(ka.Name, v.Kind)
		}
		if err := checkKeySize(v, i == 0); err != nil {
			return nil, 0, err
		}
	}
	if err := checkIndexKeys(d, it); err != nil {
		return nil, 0, err
	}
	size := attr.ItemSize(it)
	if size > attr.MaxItemSize {
		return nil, 0, validation("Item size has exceeded the maximum allowed size")
	}
	k, _ := d.ItemKey(it)
	return k, size, nil
}

func checkIndexKeys(d *store.TableDef, it attr.Item) error {
	for _, x := range d.Indexes() {
		for _, ka := range []*store.KeyAttr{&x.Hash, x.Range} {
			if ka == nil {
				continue
			}
			v, ok := it[ka.Name]
			if !ok {
				continue
			}
			if v.Kind != ka.Type {
				return validation("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", ka.Name, ka.Type, v.Kind, x.Name)
			}
			if v.S == "" && v.Kind != attr.KindN {
				return validation("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s",
					map[bool]string{true: "string", false: "binary"}[v.Kind == attr.KindS], x.Name, ka.Name)
			}
		}
	}
	return nil
}

// checkUpdatedItem validates an item produced by an update: keys unchanged
// was checked on the expression; here index key types and the size limit.
func checkUpdatedItem(d *store.TableDef, it attr.Item) (int, error) {
	if err := checkIndexKeys(d, it); err != nil {
		return 0, err
	}
	size := attr.ItemSize(it)
	if size > attr.MaxItemSize {
		return 0, validation("Item size to update has exceeded the maximum allowed size")
	}
	return size, nil
}

// keyAttrs returns the key attributes of an item for the table and, when x
// is set, the index (the shape of LastEvaluatedKey).
func keyAttrs(d *store.TableDef, x *store.IndexDef, it attr.Item) attr.Item {
	out := attr.Item{}
	names := d.KeyNames()
	if x != nil {
		names = d.IndexKeys(x)
	}
	for _, n := range names {
		if v, ok := it[n]; ok {
			out[n] = v
		}
	}
	return out
}

// ---- expressions of a request ----

type exprInput struct {
	ExpressionAttributeNames  map[string]string `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues exprValues        `json:"ExpressionAttributeValues"`
}

// exprValues decodes ExpressionAttributeValues, naming the offending key in
// errors as DynamoDB does.
type exprValues map[string]attr.Value

// UnmarshalJSON decodes the map, wrapping a value's validation error.
func (ev *exprValues) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*ev = nil
		return nil
	}
	out := make(exprValues, len(raw))
	for k, r := range raw {
		var v attr.Value
		if err := v.UnmarshalJSON(r); err != nil {
			var ae *attr.Error
			if errors.As(err, &ae) && ae.Kind == attr.Validation {
				return validationText("ExpressionAttributeValues contains invalid value: " + ae.Msg + " for key " + k)
			}
			return err
		}
		out[k] = v
	}
	*ev = out
	return nil
}

func (e *exprInput) context() (*expr.Context, error) {
	for k := range e.ExpressionAttributeValues {
		if len(k) < 2 || k[0] != ':' {
			return nil, validation("ExpressionAttributeValues contains invalid key: Syntax error; key: \"%s\"", k)
		}
	}
	for k := range e.ExpressionAttributeNames {
		if len(k) < 2 || k[0] != '#' {
			return nil, validation("ExpressionAttributeNames contains invalid key: Syntax error; key: \"%s\"", k)
		}
	}
	return expr.NewContext(e.ExpressionAttributeNames, e.ExpressionAttributeValues), nil
}

// checkNoExpressionMaps rejects placeholder maps when no expression is used.
func (e *exprInput) checkNoExpressionMaps() error {
	if e.ExpressionAttributeNames != nil {
		return validation("ExpressionAttributeNames can only be specified when using expressions")
	}
	if e.ExpressionAttributeValues != nil {
		return validation("ExpressionAttributeValues can only be specified when using expressions")
	}
	return nil
}

func mixedErr(legacy, expression string) error {
	return validation("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {%s} Expression parameters: {%s}", legacy, expression)
}

// parseCondition builds the write condition from ConditionExpression or the
// legacy Expected parameter.
func parseCondition(ctx *expr.Context, condExpr *string, expected map[string]expr.LegacyCondition, condOp string) (*expr.Cond, error) {
	if condExpr != nil {
		if expected != nil {
			return nil, mixedErr("Expected", "ConditionExpression")
		}
		return expr.ParseCondition("ConditionExpression", *condExpr, ctx)
	}
	return expr.FromLegacy(expected, condOp)
}

func parseProjection(ctx *expr.Context, projExpr *string, attrsToGet []string) (expr.Projection, error) {
	if projExpr != nil {
		if attrsToGet != nil {
			return nil, mixedErr("AttributesToGet", "ProjectionExpression")
		}
		return expr.ParseProjection(*projExpr, ctx)
	}
	if attrsToGet != nil {
		if len(attrsToGet) == 0 {
			return nil, validation("1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		seen := map[string]bool{}
		for _, a := range attrsToGet {
			if seen[a] {
				return nil, validation("One or more parameter values were invalid: Duplicate value in attribute name: %s", a)
			}
			seen[a] = true
		}
		return expr.ProjectionFromNames(attrsToGet), nil
	}
	return nil, nil
}

// ---- consumed capacity ----

type capacity struct {
	TableName          string              `json:"TableName"`
	CapacityUnits      float64             `json:"CapacityUnits"`
	ReadCapacityUnits  float64             `json:"ReadCapacityUnits,omitempty"`
	WriteCapacityUnits float64             `json:"WriteCapacityUnits,omitempty"`
	Table              *capUnits           `json:"Table,omitempty"`
	GSIs               map[string]capUnits `json:"GlobalSecondaryIndexes,omitempty"`
	LSIs               map[string]capUnits `json:"LocalSecondaryIndexes,omitempty"`
}

type capUnits struct {
	CapacityUnits      float64 `json:"CapacityUnits"`
	ReadCapacityUnits  float64 `json:"ReadCapacityUnits,omitempty"`
	WriteCapacityUnits float64 `json:"WriteCapacityUnits,omitempty"`
}

// readUnits is DynamoDB's read cost: one unit per 4 KB (rounded up, at least
// one), halved for eventually consistent reads.
func readUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}

// writeUnits is DynamoDB's write cost: one unit per 1 KB of the larger of the
// old and new item, at least one.
func writeUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

func newCapacity(mode, table string, units float64, read bool, index *store.IndexDef) *capacity {
	if mode != "TOTAL" && mode != "INDEXES" {
		return nil
	}
	c := &capacity{TableName: table, CapacityUnits: units}
	if read {
		c.ReadCapacityUnits = units
	} else {
		c.WriteCapacityUnits = units
	}
	if mode == "INDEXES" {
		cu := capUnits{CapacityUnits: units}
		if read {
			cu.ReadCapacityUnits = units
		} else {
			cu.WriteCapacityUnits = units
		}
		if index == nil {
			c.Table = &cu
		} else if index.Global {
			c.Table = &capUnits{}
			c.GSIs = map[string]capUnits{index.Name: cu}
		} else {
			c.Table = &capUnits{}
			c.LSIs = map[string]capUnits{index.Name: cu}
		}
	}
	return c
}

// writeCapacity adds the cost of maintaining each index the write touched.
func writeCapacity(mode string, d *store.TableDef, units float64, old, cur attr.Item) *capacity {
	c := newCapacity(mode, d.Name, units, false, nil)
	if c == nil {
		return nil
	}
	for _, x := range d.Indexes() {
		_, inOld := d.IndexEntryKey(x, old)
		_, inNew := d.IndexEntryKey(x, cur)
		if !inOld && !inNew {
			continue
		}
		u := units
		c.CapacityUnits += u
		c.WriteCapacityUnits += u
		if mode == "INDEXES" {
			cu := capUnits{CapacityUnits: u, WriteCapacityUnits: u}
			if x.Global {
				if c.GSIs == nil {
					c.GSIs = map[string]capUnits{}
				}
				c.GSIs[x.Name] = cu
			} else {
				if c.LSIs == nil {
					c.LSIs = map[string]capUnits{}
				}
				c.LSIs[x.Name] = cu
			}
		}
	}
	return c
}

func checkReturnConsumed(v string) error {
	switch v {
	case "", "NONE", "TOTAL", "INDEXES":
		return nil
	}
	return validation("1 validation error detected: Value '%s' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]", v)
}

func enumErr(field, v, set string) error {
	return validationText(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, field, set))
}
