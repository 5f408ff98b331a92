package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/expr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/store"
)

// ---- BatchGetItem ----

type keysAndAttributes struct {
	exprInput
	Keys                 []attr.Item `json:"Keys"`
	ConsistentRead       bool        `json:"ConsistentRead"`
	ProjectionExpression *string     `json:"ProjectionExpression"`
	AttributesToGet      []string    `json:"AttributesToGet"`
}

type batchGetInput struct {
	RequestItems           map[string]*keysAndAttributes `json:"RequestItems"`
	ReturnConsumedCapacity string                        `json:"ReturnConsumedCapacity"`
}

// maxBatchGetResponse is the most data one BatchGetItem returns (16 MB).
const maxBatchGetResponse = 16 << 20

func sortedTables[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (s *Server) batchGetItem(ctx context.Context, body, out []byte) ([]byte, error) {
	var in batchGetInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.RequestItems) == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	type tableReq struct {
		d    *store.TableDef
		ka   *keysAndAttributes
		keys [][]byte
		proj expr.Projection
	}
	total := 0
	var reqs []*tableReq
	for _, name := range sortedTables(in.RequestItems) {
		ka := in.RequestItems[name]
		d, err := s.lookupTable(name)
		if err != nil {
			return nil, err
		}
		if ka == nil || len(ka.Keys) == 0 {
			return nil, validation("1 validation error detected: Value '[]' at 'requestItems.%s.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1", name)
		}
		tr := &tableReq{d: d, ka: ka}
		seen := map[string]bool{}
		for _, k := range ka.Keys {
			sk, err := keyFromKey(d, k)
			if err != nil {
				return nil, err
			}
			if seen[string(sk)] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[string(sk)] = true
			tr.keys = append(tr.keys, sk)
		}
		total += len(ka.Keys)
		if tr.proj, err = s.readProjection(&ka.exprInput, ka.ProjectionExpression, ka.AttributesToGet); err != nil {
			return nil, err
		}
		reqs = append(reqs, tr)
	}
	if total > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call")
	}
	responses := map[string][]json.RawMessage{}
	unprocessed := map[string]*keysAndAttributes{}
	var caps []*capacity
	size := 0
	err := s.db.Snapshot(func(r *store.ReadTx) error {
		for _, tr := range reqs {
			units := 0.0
			list := []json.RawMessage{}
			for i, k := range tr.keys {
				if size > maxBatchGetResponse {
					u := unprocessed[tr.d.Name]
					if u == nil {
						u = &keysAndAttributes{exprInput: tr.ka.exprInput, ConsistentRead: tr.ka.ConsistentRead,
							ProjectionExpression: tr.ka.ProjectionExpression, AttributesToGet: tr.ka.AttributesToGet}
						unprocessed[tr.d.Name] = u
					}
					u.Keys = append(u.Keys, tr.ka.Keys[i])
					continue
				}
				rec, ok := r.Get(tr.d, k)
				if !ok {
					units += readUnits(0, tr.ka.ConsistentRead)
					continue
				}
				units += readUnits(rec.Size, tr.ka.ConsistentRead)
				size += rec.Size
				if tr.proj == nil {
					list = append(list, append(json.RawMessage(nil), rec.JSON...))
					continue
				}
				it, err := attr.DecodeItem(rec.JSON)
				if err != nil {
					return err
				}
				list = append(list, attr.AppendItem(nil, tr.proj.Apply(it)))
			}
			responses[tr.d.Name] = list
			if c := newCapacity(in.ReturnConsumedCapacity, tr.d.Name, units, true, nil); c != nil {
				caps = append(caps, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"Responses": responses, "UnprocessedKeys": unprocessed}
	if caps != nil {
		res["ConsumedCapacity"] = caps
	}
	return marshal(out, res)
}

// ---- BatchWriteItem ----

type writeRequest struct {
	PutRequest *struct {
		Item attr.Item `json:"Item"`
	} `json:"PutRequest"`
	DeleteRequest *struct {
		Key attr.Item `json:"Key"`
	} `json:"DeleteRequest"`
}

type batchWriteInput struct {
	RequestItems                map[string][]writeRequest `json:"RequestItems"`
	ReturnConsumedCapacity      string                    `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics string                    `json:"ReturnItemCollectionMetrics"`
}

func (s *Server) batchWriteItem(ctx context.Context, body, out []byte) ([]byte, error) {
	var in batchWriteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.RequestItems) == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	type op struct {
		d    *store.TableDef
		key  []byte
		item attr.Item // nil for delete
		size int
	}
	var ops []op
	for _, name := range sortedTables(in.RequestItems) {
		d, err := s.lookupTable(name)
		if err != nil {
			return nil, err
		}
		reqs := in.RequestItems[name]
		if len(reqs) == 0 {
			return nil, validation("1 validation error detected: Value '[]' at 'requestItems.%s.member' failed to satisfy constraint: Member must have length greater than or equal to 1", name)
		}
		seen := map[string]bool{}
		for _, wr := range reqs {
			var o op
			o.d = d
			switch {
			case wr.PutRequest != nil && wr.DeleteRequest == nil:
				if o.key, o.size, err = keyFromItem(d, wr.PutRequest.Item); err != nil {
					return nil, err
				}
				o.item = wr.PutRequest.Item
			case wr.DeleteRequest != nil && wr.PutRequest == nil:
				if o.key, err = keyFromKey(d, wr.DeleteRequest.Key); err != nil {
					return nil, err
				}
			default:
				return nil, validation("One or more parameter values were invalid: Each WriteRequest must contain exactly one of PutRequest or DeleteRequest")
			}
			if seen[string(o.key)] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[string(o.key)] = true
			ops = append(ops, o)
		}
	}
	if len(ops) > 25 {
		return nil, validation("Too many items requested for the BatchWriteItem call")
	}
	units := map[string]float64{}
	err := s.db.Write(ctx, func(w *store.WriteTx) error {
		clear(units)
		for _, o := range ops {
			item, size := o.item, o.size
			res, err := applyWrite(s, w, o.d.Name, o.key, nil, false, false, func(*store.TableDef, attr.Item) (attr.Item, int, error) {
				return item, size, nil
			})
			if err != nil {
				return err
			}
			units[o.d.Name] += writeUnits(max(res.oldSize, res.curSize))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"UnprocessedItems": map[string]any{}}
	if in.ReturnConsumedCapacity == "TOTAL" || in.ReturnConsumedCapacity == "INDEXES" {
		var caps []*capacity
		for _, name := range sortedTables(units) {
			caps = append(caps, newCapacity(in.ReturnConsumedCapacity, name, units[name], false, nil))
		}
		res["ConsumedCapacity"] = caps
	}
	return marshal(out, res)
}

// ---- TransactGetItems ----

type transactGetInput struct {
	TransactItems []struct {
		Get *struct {
			exprInput
			TableName            string    `json:"TableName"`
			Key                  attr.Item `json:"Key"`
			ProjectionExpression *string   `json:"ProjectionExpression"`
		} `json:"Get"`
	} `json:"TransactItems"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (s *Server) transactGetItems(ctx context.Context, body, out []byte) ([]byte, error) {
	var in transactGetInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TransactItems) == 0 {
		return nil, notNull("transactItems")
	}
	if len(in.TransactItems) > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	type get struct {
		d    *store.TableDef
		key  []byte
		proj expr.Projection
	}
	gets := make([]get, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		g := ti.Get
		if g == nil {
			return nil, notNull(fmt.Sprintf("transactItems.%d.member.get", i+1))
		}
		d, err := s.lookupTable(g.TableName)
		if err != nil {
			return nil, err
		}
		k, err := keyFromKey(d, g.Key)
		if err != nil {
			return nil, err
		}
		id := d.Name + "\x00" + string(k)
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		p, err := s.readProjection(&g.exprInput, g.ProjectionExpression, nil)
		if err != nil {
			return nil, err
		}
		gets[i] = get{d: d, key: k, proj: p}
	}
	responses := make([]json.RawMessage, len(gets))
	units := map[string]float64{}
	err := s.db.Snapshot(func(r *store.ReadTx) error {
		for i, g := range gets {
			if !r.Exists(g.d) {
				return notFound()
			}
			rec, ok := r.Get(g.d, g.key)
			if !ok {
				units[g.d.Name] += 2 * readUnits(0, true)
				responses[i] = json.RawMessage("{}")
				continue
			}
			units[g.d.Name] += 2 * readUnits(rec.Size, true)
			buf := []byte(`{"Item":`)
			if g.proj == nil {
				buf = append(buf, rec.JSON...)
			} else {
				it, err := attr.DecodeItem(rec.JSON)
				if err != nil {
					return err
				}
				buf = attr.AppendItem(buf, g.proj.Apply(it))
			}
			responses[i] = append(buf, '}')
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"Responses": responses}
	if in.ReturnConsumedCapacity == "TOTAL" || in.ReturnConsumedCapacity == "INDEXES" {
		var caps []*capacity
		for _, name := range sortedTables(units) {
			caps = append(caps, newCapacity(in.ReturnConsumedCapacity, name, units[name], true, nil))
		}
		res["ConsumedCapacity"] = caps
	}
	return marshal(out, res)
}

// ---- TransactWriteItems ----

type transactWriteItem struct {
	ConditionCheck *struct {
		exprInput
		TableName                           string    `json:"TableName"`
		Key                                 attr.Item `json:"Key"`
		ConditionExpression                 *string   `json:"ConditionExpression"`
		ReturnValuesOnConditionCheckFailure string    `json:"ReturnValuesOnConditionCheckFailure"`
	} `json:"ConditionCheck"`
	Put *struct {
		exprInput
		TableName                           string    `json:"TableName"`
		Item                                attr.Item `json:"Item"`
		ConditionExpression                 *string   `json:"ConditionExpression"`
		ReturnValuesOnConditionCheckFailure string    `json:"ReturnValuesOnConditionCheckFailure"`
	} `json:"Put"`
	Delete *struct {
		exprInput
		TableName                           string    `json:"TableName"`
		Key                                 attr.Item `json:"Key"`
		ConditionExpression                 *string   `json:"ConditionExpression"`
		ReturnValuesOnConditionCheckFailure string    `json:"ReturnValuesOnConditionCheckFailure"`
	} `json:"Delete"`
	Update *struct {
		exprInput
		TableName                           string    `json:"TableName"`
		Key                                 attr.Item `json:"Key"`
		UpdateExpression                    *string   `json:"UpdateExpression"`
		ConditionExpression                 *string   `json:"ConditionExpression"`
		ReturnValuesOnConditionCheckFailure string    `json:"ReturnValuesOnConditionCheckFailure"`
	} `json:"Update"`
}

type transactWriteInput struct {
	TransactItems               []transactWriteItem `json:"TransactItems"`
	ClientRequestToken          string              `json:"ClientRequestToken"`
	ReturnConsumedCapacity      string              `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics string              `json:"ReturnItemCollectionMetrics"`
}

// txOp is one validated action of a TransactWriteItems request.
type txOp struct {
	d            *store.TableDef
	key          []byte
	cond         *expr.Cond
	returnOnFail bool
	check        bool     // ConditionCheck: no write
	mut          mutation // nil for ConditionCheck
}

func (s *Server) transactOp(i int, ti transactWriteItem) (*txOp, error) {
	n := 0
	for _, set := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, validation("TransactItems can only contain one of Check, Put, Update or Delete")
	}
	op := &txOp{}
	var e *exprInput
	var condExpr *string
	var table, onFail string
	switch {
	case ti.ConditionCheck != nil:
		c := ti.ConditionCheck
		e, condExpr, table, onFail = &c.exprInput, c.ConditionExpression, c.TableName, c.ReturnValuesOnConditionCheckFailure
		if condExpr == nil {
			return nil, notNull(fmt.Sprintf("transactItems.%d.member.conditionCheck.conditionExpression", i+1))
		}
		op.check = true
	case ti.Put != nil:
		p := ti.Put
		e, condExpr, table, onFail = &p.exprInput, p.ConditionExpression, p.TableName, p.ReturnValuesOnConditionCheckFailure
	case ti.Delete != nil:
		p := ti.Delete
		e, condExpr, table, onFail = &p.exprInput, p.ConditionExpression, p.TableName, p.ReturnValuesOnConditionCheckFailure
		op.mut = func(*store.TableDef, attr.Item) (attr.Item, int, error) { return nil, 0, nil }
	case ti.Update != nil:
		p := ti.Update
		e, condExpr, table, onFail = &p.exprInput, p.ConditionExpression, p.TableName, p.ReturnValuesOnConditionCheckFailure
		if p.UpdateExpression == nil {
			return nil, notNull(fmt.Sprintf("transactItems.%d.member.update.updateExpression", i+1))
		}
	}
	d, err := s.lookupTable(table)
	if err != nil {
		return nil, err
	}
	op.d = d
	if err := checkReturnValuesOnFail(onFail); err != nil {
		return nil, err
	}
	op.returnOnFail = onFail == "ALL_OLD"
	switch {
	case ti.Put != nil:
		key, size, err := keyFromItem(d, ti.Put.Item)
		if err != nil {
			return nil, err
		}
		item := ti.Put.Item
		op.key = key
		op.mut = func(*store.TableDef, attr.Item) (attr.Item, int, error) { return item, size, nil }
	case ti.ConditionCheck != nil:
		op.key, err = keyFromKey(d, ti.ConditionCheck.Key)
	case ti.Delete != nil:
		op.key, err = keyFromKey(d, ti.Delete.Key)
	case ti.Update != nil:
		op.key, err = keyFromKey(d, ti.Update.Key)
	}
	if err != nil {
		return nil, err
	}
	var extra func(*expr.Context) error
	if ti.Update != nil {
		extra = func(c *expr.Context) error {
			u, err := parseUpdate(d, c, ti.Update.UpdateExpression, nil)
			if err != nil {
				return err
			}
			op.mut = updateMutation(u, ti.Update.Key)
			return nil
		}
	}
	if op.cond, err = writeCond(e, condExpr, nil, "", extra); err != nil {
		return nil, err
	}
	return op, nil
}

func (s *Server) transactWriteItems(ctx context.Context, body, out []byte) ([]byte, error) {
	var in transactWriteInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TransactItems) == 0 {
		return nil, notNull("transactItems")
	}
	if len(in.TransactItems) > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	if len(in.ClientRequestToken) > 36 {
		return nil, validation("1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36", in.ClientRequestToken)
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	var hash [32]byte
	now := s.db.Now()
	if in.ClientRequestToken != "" {
		hash = sha256.Sum256(body)
		resp, ok, err := s.tokens.get(in.ClientRequestToken, hash, now)
		if err != nil {
			return nil, err
		}
		if ok {
			return append(out, resp...), nil
		}
	}
	ops := make([]*txOp, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		op, err := s.transactOp(i, ti)
		if err != nil {
			return nil, err
		}
		id := op.d.Name + "\x00" + string(op.key)
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		ops[i] = op
	}
	units := map[string]float64{}
	err := s.db.Write(ctx, func(w *store.WriteTx) error {
		clear(units)
		// Check every condition first: nothing is written unless all pass.
		reasons := make([]CancellationReason, len(ops))
		failed := false
		type prepared struct {
			stored attr.Item
			live   attr.Item
			rec    *store.Record
			cur    attr.Item
			size   int
		}
		preps := make([]prepared, len(ops))
		for i, op := range ops {
			reasons[i] = CancellationReason{Code: "None"}
			d := s.db.Table(op.d.Name)
			if d == nil || !w.Exists(d) {
				return notFound()
			}
			op.d = d
			rec, found := w.GetRaw(d, op.key)
			var p prepared
			if found {
				it, err := attr.DecodeItem(rec.JSON)
				if err != nil {
					return err
				}
				p.stored, p.rec = it, &rec
				if !rec.Expired(d, w.Now()) {
					p.live = it
				}
			}
			if op.cond != nil && !op.cond.Eval(p.live) {
				reasons[i] = CancellationReason{Code: "ConditionalCheckFailed", Message: "The conditional request failed"}
				if op.returnOnFail {
					reasons[i].Item = p.live
				}
				failed = true
				preps[i] = p
				continue
			}
			if op.mut != nil {
				cur, size, err := op.mut(d, p.live)
				if err != nil {
					ae := toAPIError(err)
					reasons[i] = CancellationReason{Code: "ValidationError", Message: ae.Message}
					failed = true
				}
				p.cur, p.size = cur, size
			}
			preps[i] = p
		}
		if failed {
			codes := make([]string, len(reasons))
			for i, r := range reasons {
				codes[i] = r.Code
			}
			e := dynamoErr("TransactionCanceledException", "Transaction cancelled, please refer cancellation reasons for specific reasons ["+strings.Join(codes, ", ")+"]")
			e.Reasons = reasons
			return e
		}
		for i, op := range ops {
			p := preps[i]
			oldSize := 0
			if p.rec != nil {
				oldSize = p.rec.Size
			}
			units[op.d.Name] += 2 * writeUnits(max(oldSize, p.size))
			switch {
			case op.check:
			case p.cur == nil:
				if p.rec != nil {
					if err := w.Delete(op.d, op.key, p.stored, *p.rec); err != nil {
						return err
					}
				}
			default:
				if err := w.Put(op.d, op.key, p.stored, p.rec, p.cur, p.size); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{}
	if in.ReturnConsumedCapacity == "TOTAL" || in.ReturnConsumedCapacity == "INDEXES" {
		var caps []*capacity
		for _, name := range sortedTables(units) {
			caps = append(caps, newCapacity(in.ReturnConsumedCapacity, name, units[name], false, nil))
		}
		res["ConsumedCapacity"] = caps
	}
	out, err = marshal(out, res)
	if err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		s.tokens.put(in.ClientRequestToken, hash, now, out)
	}
	return out, nil
}
