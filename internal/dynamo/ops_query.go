package dynamo

import (
	"context"
	"encoding/binary"
	"strconv"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/expr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/store"
)

// maxPage is the most item data one Query or Scan reads (1 MB), as DynamoDB.
const maxPage = 1 << 20

type readInput struct {
	exprInput
	TableName              string    `json:"TableName"`
	IndexName              string    `json:"IndexName"`
	Select                 string    `json:"Select"`
	Limit                  *int      `json:"Limit"`
	ConsistentRead         bool      `json:"ConsistentRead"`
	ExclusiveStartKey      attr.Item `json:"ExclusiveStartKey"`
	ProjectionExpression   *string   `json:"ProjectionExpression"`
	AttributesToGet        []string  `json:"AttributesToGet"`
	FilterExpression       *string   `json:"FilterExpression"`
	ConditionalOperator    string    `json:"ConditionalOperator"`
	ReturnConsumedCapacity string    `json:"ReturnConsumedCapacity"`
	// Query
	KeyConditionExpression *string                         `json:"KeyConditionExpression"`
	KeyConditions          map[string]expr.LegacyCondition `json:"KeyConditions"`
	QueryFilter            map[string]expr.LegacyCondition `json:"QueryFilter"`
	ScanIndexForward       *bool                           `json:"ScanIndexForward"`
	// Scan
	ScanFilter    map[string]expr.LegacyCondition `json:"ScanFilter"`
	Segment       *int                            `json:"Segment"`
	TotalSegments *int                            `json:"TotalSegments"`
}

// readPlan is a validated Query or Scan.
type readPlan struct {
	d       *store.TableDef
	x       *store.IndexDef
	rg      store.Range
	reverse bool
	filter  *expr.Cond
	proj    expr.Projection
	count   bool // Select COUNT
	limit   int
	start   []byte // ExclusiveStartKey in storage form
}

func (s *Server) planRead(in *readInput, isQuery bool) (*readPlan, error) {
	d, err := s.lookupTable(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	p := &readPlan{d: d}
	if in.IndexName != "" {
		if p.x = d.Index(in.IndexName); p.x == nil {
			return nil, validation("The table does not have the specified index: %s", in.IndexName)
		}
		if p.x.Global && in.ConsistentRead {
			return nil, validation("Consistent reads are not supported on global secondary indexes")
		}
	}
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
		}
		p.limit = *in.Limit
	}
	// Expressions or their legacy forms, never both.
	usesExpr := in.ProjectionExpression != nil || in.FilterExpression != nil || in.KeyConditionExpression != nil
	var ctx *expr.Context
	if usesExpr {
		if ctx, err = in.context(); err != nil {
			return nil, err
		}
	} else if err := in.checkNoExpressionMaps(); err != nil {
		return nil, err
	}
	legacyFilter, filterName := in.ScanFilter, "ScanFilter"
	if isQuery {
		legacyFilter, filterName = in.QueryFilter, "QueryFilter"
	}
	if in.FilterExpression != nil {
		if legacyFilter != nil {
			return nil, mixedErr(filterName, "FilterExpression")
		}
		if p.filter, err = expr.ParseCondition("FilterExpression", *in.FilterExpression, ctx); err != nil {
			return nil, err
		}
	} else if p.filter, err = expr.FromLegacy(legacyFilter, in.ConditionalOperator); err != nil {
		return nil, err
	}
	if p.proj, err = parseProjection(ctx, in.ProjectionExpression, in.AttributesToGet); err != nil {
		return nil, err
	}
	if err := p.selectMode(in); err != nil {
		return nil, err
	}
	if isQuery {
		if err := p.keyRange(in, ctx); err != nil {
			return nil, err
		}
		if p.filter != nil {
			used := map[string]bool{}
			p.filter.Names(used)
			keys := d.KeyNames()
			if p.x != nil {
				keys = []string{p.x.Hash.Name}
				if p.x.Range != nil {
					keys = append(keys, p.x.Range.Name)
				}
			}
			for _, k := range keys {
				if used[k] {
					return nil, validation("Filter Expression can only contain non-primary key attributes: Primary key attribute: %s", k)
				}
			}
		}
		p.reverse = in.ScanIndexForward != nil && !*in.ScanIndexForward
	} else {
		if err := p.segment(in); err != nil {
			return nil, err
		}
	}
	if ctx != nil {
		if err := ctx.Finish(); err != nil {
			return nil, err
		}
	}
	if in.ExclusiveStartKey != nil {
		if err := p.startKey(in.ExclusiveStartKey); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *readPlan) selectMode(in *readInput) error {
	hasProj := p.proj != nil
	switch in.Select {
	case "":
		if p.x != nil && !hasProj && p.x.ProjectionType != "ALL" {
			p.proj = p.indexProjection()
		}
	case "ALL_ATTRIBUTES":
		if hasProj {
			return validation("Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES")
		}
		if p.x != nil && p.x.Global && p.x.ProjectionType != "ALL" {
			return validation("One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index %s because its projection type is not ALL", p.x.Name)
		}
	case "ALL_PROJECTED_ATTRIBUTES":
		if p.x == nil {
			return validation("One or more parameter values were invalid: Select type ALL_PROJECTED_ATTRIBUTES is supported only for index queries")
		}
		if hasProj {
			return validation("Cannot specify the ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES")
		}
		if p.x.ProjectionType != "ALL" {
			p.proj = p.indexProjection()
		}
	case "COUNT":
		if hasProj {
			return validation("Cannot specify the ProjectionExpression when choosing to get only the Count")
		}
		p.count = true
	case "SPECIFIC_ATTRIBUTES":
		if !hasProj {
			return validation("One or more parameter values were invalid: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES")
		}
	default:
		return enumErr("select", in.Select, "SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES")
	}
	return nil
}

func (p *readPlan) indexProjection() expr.Projection {
	names := p.d.IndexKeys(p.x)
	if p.x.ProjectionType == "INCLUDE" {
		names = append(names, p.x.NonKey...)
	}
	return expr.ProjectionFromNames(names)
}

func (p *readPlan) keySchema() expr.KeySchema {
	if p.x != nil {
		ks := expr.KeySchema{Hash: p.x.Hash.Name, HashType: p.x.Hash.Type}
		if p.x.Range != nil {
			ks.Range, ks.RangeType = p.x.Range.Name, p.x.Range.Type
		}
		return ks
	}
	ks := expr.KeySchema{Hash: p.d.Hash.Name, HashType: p.d.Hash.Type}
	if p.d.Range != nil {
		ks.Range, ks.RangeType = p.d.Range.Name, p.d.Range.Type
	}
	return ks
}

func (p *readPlan) keyRange(in *readInput, ctx *expr.Context) error {
	var cond *expr.Cond
	var err error
	switch {
	case in.KeyConditionExpression != nil && in.KeyConditions != nil:
		return mixedErr("KeyConditions", "KeyConditionExpression")
	case in.KeyConditionExpression != nil:
		cond, err = expr.ParseCondition("KeyConditionExpression", *in.KeyConditionExpression, ctx)
	case in.KeyConditions != nil:
		cond, err = expr.FromLegacy(in.KeyConditions, "AND")
	default:
		return validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	if err != nil {
		return err
	}
	if cond == nil {
		return validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	kc, err := expr.ToKeyCond(cond, p.keySchema())
	if err != nil {
		return err
	}
	if kc.Hash.S == "" && kc.Hash.Kind != attr.KindN {
		return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s",
			map[bool]string{true: "string", false: "binary"}[kc.Hash.Kind == attr.KindS], p.keySchema().Hash)
	}
	pre := store.PartitionPrefix(kc.Hash)
	end := attr.PrefixEnd(pre)
	with := func(v attr.Value) []byte { return attr.AppendKey(append([]byte(nil), pre...), v) }
	switch kc.RangeOp {
	case "":
		p.rg = store.Range{Lo: pre, Hi: end}
	case "=":
		k := with(kc.Range[0])
		p.rg = store.Range{Lo: k, Hi: attr.PrefixEnd(k)}
	case "<":
		p.rg = store.Range{Lo: pre, Hi: with(kc.Range[0])}
	case "<=":
		p.rg = store.Range{Lo: pre, Hi: attr.PrefixEnd(with(kc.Range[0]))}
	case ">":
		p.rg = store.Range{Lo: attr.PrefixEnd(with(kc.Range[0])), Hi: end}
	case ">=":
		p.rg = store.Range{Lo: with(kc.Range[0]), Hi: end}
	case "BETWEEN":
		if c, _ := attr.Compare(kc.Range[0], kc.Range[1]); c > 0 {
			return validation("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: {%s:%s}",
				kc.Range[0].Kind, kc.Range[0].S, kc.Range[1].Kind, kc.Range[1].S)
		}
		p.rg = store.Range{Lo: with(kc.Range[0]), Hi: attr.PrefixEnd(with(kc.Range[1]))}
	case "begins_with":
		k := attr.AppendKeyPrefix(append([]byte(nil), pre...), kc.Range[0].S, false)
		p.rg = store.Range{Lo: k, Hi: attr.PrefixEnd(k)}
	}
	return nil
}

func (p *readPlan) segment(in *readInput) error {
	if in.Segment == nil && in.TotalSegments == nil {
		return nil
	}
	if in.TotalSegments == nil {
		return validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")
	}
	if in.Segment == nil {
		return validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")
	}
	seg, total := *in.Segment, *in.TotalSegments
	if total < 1 || total > 1000000 {
		return validation("1 validation error detected: Value '%d' at 'totalSegments' failed to satisfy constraint: Member must have value less than or equal to 1000000", total)
	}
	if seg < 0 || seg >= total {
		return validation("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: %d is not less than TotalSegments: %d", seg, total)
	}
	bound := func(i int) []byte {
		if i >= total {
			return nil
		}
		v := uint32((uint64(i) << 32) / uint64(total))
		return binary.BigEndian.AppendUint32(nil, v)
	}
	p.rg = store.Range{Lo: bound(seg), Hi: bound(seg + 1)}
	if seg == 0 {
		p.rg.Lo = nil
	}
	return nil
}

func (p *readPlan) startKey(esk attr.Item) error {
	bad := validation("The provided starting key is invalid: The provided key element does not match the schema")
	names := p.d.KeyNames()
	if p.x != nil {
		names = p.d.IndexKeys(p.x)
	}
	if len(esk) != len(names) {
		return bad
	}
	var k []byte
	var ok bool
	if p.x == nil {
		k, ok = p.d.ItemKey(esk)
	} else {
		k, ok = p.d.IndexEntryKey(p.x, esk)
	}
	if !ok {
		return bad
	}
	p.start = k
	return nil
}

type readResult struct {
	items        []byte
	count        int
	scanned      int
	bytes        int
	lastEvalItem attr.Item
}

// run executes the plan on a snapshot.
func (s *Server) runRead(p *readPlan) (*readResult, error) {
	res := &readResult{items: make([]byte, 0, 1024)}
	rg := p.rg
	if p.start != nil {
		if !p.reverse {
			next := append(append([]byte(nil), p.start...), 0)
			if string(next) > string(rg.Lo) {
				rg.Lo = next
			}
		} else if rg.Hi == nil || string(p.start) < string(rg.Hi) {
			rg.Hi = p.start
		}
	}
	var iterErr error
	view := s.db.View
	if p.x != nil { // index entries and the items they point to must agree
		view = s.db.Snapshot
	}
	err := view(func(r *store.ReadTx) error {
		if !r.Exists(p.d) {
			return notFound()
		}
		err := r.Iterate(p.d, p.x, rg, p.reverse, func(key []byte, rec store.Record) bool {
			res.scanned++
			res.bytes += rec.Size
			stop := (p.limit > 0 && res.scanned >= p.limit) || res.bytes >= maxPage
			var it attr.Item
			if p.filter != nil || p.proj != nil || stop {
				var err error
				if it, err = attr.DecodeItem(rec.JSON); err != nil {
					iterErr = err
					return false
				}
			}
			if p.filter == nil || p.filter.Eval(it) {
				res.count++
				if !p.count {
					if res.count > 1 {
						res.items = append(res.items, ',')
					}
					if p.proj != nil {
						res.items = attr.AppendItem(res.items, p.proj.Apply(it))
					} else {
						res.items = append(res.items, rec.JSON...)
					}
				}
			}
			if stop {
				res.lastEvalItem = keyAttrs(p.d, p.x, it)
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		return iterErr
	})
	return res, err
}

func (s *Server) readOutput(out []byte, p *readPlan, in *readInput, res *readResult) ([]byte, error) {
	out = append(out, '{')
	if !p.count {
		out = append(out, `"Items":[`...)
		out = append(out, res.items...)
		out = append(out, "],"...)
	}
	out = append(out, `"Count":`...)
	out = strconv.AppendInt(out, int64(res.count), 10)
	out = append(out, `,"ScannedCount":`...)
	out = strconv.AppendInt(out, int64(res.scanned), 10)
	if res.lastEvalItem != nil {
		out = append(out, `,"LastEvaluatedKey":`...)
		out = attr.AppendItem(out, res.lastEvalItem)
	}
	if c := newCapacity(in.ReturnConsumedCapacity, p.d.Name, readUnits(res.bytes, in.ConsistentRead), true, p.x); c != nil {
		out = append(out, `,"ConsumedCapacity":`...)
		var err error
		if out, err = marshal(out, c); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}

func (s *Server) query(ctx context.Context, body, out []byte) ([]byte, error) {
	var in readInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ScanFilter != nil || in.Segment != nil || in.TotalSegments != nil {
		return nil, validation("Query does not accept ScanFilter, Segment or TotalSegments")
	}
	p, err := s.planRead(&in, true)
	if err != nil {
		return nil, err
	}
	res, err := s.runRead(p)
	if err != nil {
		return nil, err
	}
	return s.readOutput(out, p, &in, res)
}

func (s *Server) scan(ctx context.Context, body, out []byte) ([]byte, error) {
	var in readInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.KeyConditionExpression != nil || in.KeyConditions != nil || in.QueryFilter != nil {
		return nil, validation("Scan does not accept KeyConditionExpression, KeyConditions or QueryFilter")
	}
	p, err := s.planRead(&in, false)
	if err != nil {
		return nil, err
	}
	res, err := s.runRead(p)
	if err != nil {
		return nil, err
	}
	return s.readOutput(out, p, &in, res)
}
