package dynamo

import (
	"context"

	"github.com/edgeserverlessbox/esb/internal/dynamo/attr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/expr"
	"github.com/edgeserverlessbox/esb/internal/dynamo/store"
)

// ---- GetItem ----

type getItemInput struct {
	exprInput
	TableName              string    `json:"TableName"`
	Key                    attr.Item `json:"Key"`
	ConsistentRead         bool      `json:"ConsistentRead"`
	ProjectionExpression   *string   `json:"ProjectionExpression"`
	AttributesToGet        []string  `json:"AttributesToGet"`
	ReturnConsumedCapacity string    `json:"ReturnConsumedCapacity"`
}

func (s *Server) getItem(ctx context.Context, body, out []byte) ([]byte, error) {
	var in getItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.lookupTable(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	key, err := keyFromKey(d, in.Key)
	if err != nil {
		return nil, err
	}
	proj, err := s.readProjection(&in.exprInput, in.ProjectionExpression, in.AttributesToGet)
	if err != nil {
		return nil, err
	}
	size := 0
	out = append(out, '{')
	err = s.db.View(func(r *store.ReadTx) error {
		// A table's items are dropped with it, so a found item proves the
		// table exists: only a miss needs the existence check.
		rec, ok := r.Get(d, key)
		if !ok {
			if !r.Exists(d) {
				return notFound()
			}
			return nil
		}
		size = rec.Size
		out = append(out, `"Item":`...)
		if proj == nil {
			out = append(out, rec.JSON...)
			return nil
		}
		it, err := attr.DecodeItem(rec.JSON)
		if err != nil {
			return err
		}
		out = attr.AppendItem(out, proj.Apply(it))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c := newCapacity(in.ReturnConsumedCapacity, d.Name, readUnits(size, in.ConsistentRead), true, nil); c != nil {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"ConsumedCapacity":`...)
		if out, err = marshal(out, c); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}

// readProjection parses the projection of a read and checks placeholder use.
func (s *Server) readProjection(e *exprInput, projExpr *string, attrsToGet []string) (expr.Projection, error) {
	if projExpr == nil {
		if err := e.checkNoExpressionMaps(); err != nil {
			return nil, err
		}
		return parseProjection(nil, nil, attrsToGet)
	}
	ctx, err := e.context()
	if err != nil {
		return nil, err
	}
	proj, err := parseProjection(ctx, projExpr, attrsToGet)
	if err != nil {
		return nil, err
	}
	if e.ExpressionAttributeValues != nil {
		return nil, validation("ExpressionAttributeValues can only be specified when using expressions: ProjectionExpression does not use values")
	}
	return proj, ctx.Finish()
}

// ---- the write path shared by PutItem, UpdateItem, DeleteItem and batches ----

type writeResult struct {
	old, cur         attr.Item // live item before and after (nil when absent)
	oldSize, curSize int
}

// mutation computes the new item from the live one; nil means delete.
type mutation func(d *store.TableDef, live attr.Item) (attr.Item, int, error)

// applyWrite runs one conditional item write inside a write transaction.
func applyWrite(s *Server, w *store.WriteTx, table string, key []byte, cond *expr.Cond, returnOnFail bool, needOld bool, m mutation) (writeResult, error) {
	var res writeResult
	d := s.db.Table(table)
	if d == nil || !w.Exists(d) {
		return res, notFound()
	}
	rec, found := w.GetRaw(d, key)
	var stored attr.Item
	if found && (needOld || cond != nil || len(d.Indexes()) > 0) {
		var err error
		if stored, err = attr.DecodeItem(rec.JSON); err != nil {
			return res, err
		}
	}
	live := stored
	if found && rec.Expired(d, w.Now()) {
		live = nil
	} else if found {
		res.oldSize = rec.Size
	}
	if cond != nil && !cond.Eval(live) {
		if returnOnFail {
			return res, conditionFailed(live)
		}
		return res, conditionFailed(nil)
	}
	cur, size, err := m(d, live)
	if err != nil {
		return res, err
	}
	res.old, res.cur, res.curSize = live, cur, size
	var recp *store.Record
	if found {
		recp = &rec
	}
	if cur == nil {
		if found {
			return res, w.Delete(d, key, stored, rec)
		}
		return res, nil
	}
	return res, w.Put(d, key, stored, recp, cur, size)
}

func checkReturnValuesOnFail(v string) error {
	switch v {
	case "", "NONE", "ALL_OLD":
		return nil
	}
	return enumErr("returnValuesOnConditionCheckFailure", v, "ALL_OLD, NONE")
}

// ---- PutItem ----

type putItemInput struct {
	exprInput
	TableName                           string                          `json:"TableName"`
	Item                                attr.Item                       `json:"Item"`
	ConditionExpression                 *string                         `json:"ConditionExpression"`
	Expected                            map[string]expr.LegacyCondition `json:"Expected"`
	ConditionalOperator                 string                          `json:"ConditionalOperator"`
	ReturnValues                        string                          `json:"ReturnValues"`
	ReturnConsumedCapacity              string                          `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics         string                          `json:"ReturnItemCollectionMetrics"`
	ReturnValuesOnConditionCheckFailure string                          `json:"ReturnValuesOnConditionCheckFailure"`
}

// writeCond parses a write's condition and checks placeholder use.
func writeCond(e *exprInput, condExpr *string, expected map[string]expr.LegacyCondition, condOp string, extra func(*expr.Context) error) (*expr.Cond, error) {
	if condExpr == nil && extra == nil {
		if err := e.checkNoExpressionMaps(); err != nil {
			return nil, err
		}
		return parseCondition(nil, nil, expected, condOp)
	}
	ctx, err := e.context()
	if err != nil {
		return nil, err
	}
	cond, err := parseCondition(ctx, condExpr, expected, condOp)
	if err != nil {
		return nil, err
	}
	if extra != nil {
		if err := extra(ctx); err != nil {
			return nil, err
		}
	}
	return cond, ctx.Finish()
}

func (s *Server) putItem(ctx context.Context, body, out []byte) ([]byte, error) {
	var in putItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.lookupTable(in.TableName)
	if err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("ReturnValues can only be ALL_OLD or NONE")
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	if err := checkReturnValuesOnFail(in.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	key, size, err := keyFromItem(d, in.Item)
	if err != nil {
		return nil, err
	}
	cond, err := writeCond(&in.exprInput, in.ConditionExpression, in.Expected, in.ConditionalOperator, nil)
	if err != nil {
		return nil, err
	}
	var res writeResult
	err = s.db.Write(ctx, func(w *store.WriteTx) error {
		var err error
		res, err = applyWrite(s, w, d.Name, key, cond, in.ReturnValuesOnConditionCheckFailure == "ALL_OLD", in.ReturnValues == "ALL_OLD",
			func(*store.TableDef, attr.Item) (attr.Item, int, error) { return in.Item, size, nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	var ret attr.Item
	if in.ReturnValues == "ALL_OLD" {
		ret = res.old
	}
	return writeOutput(out, ret, writeCapacity(in.ReturnConsumedCapacity, d, writeUnits(max(res.oldSize, res.curSize)), res.old, res.cur))
}

func writeOutput(out []byte, attrs attr.Item, c *capacity) ([]byte, error) {
	out = append(out, '{')
	if len(attrs) > 0 {
		out = append(out, `"Attributes":`...)
		out = attr.AppendItem(out, attrs)
	}
	if c != nil {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"ConsumedCapacity":`...)
		var err error
		if out, err = marshal(out, c); err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}

// ---- DeleteItem ----

type deleteItemInput struct {
	exprInput
	TableName                           string                          `json:"TableName"`
	Key                                 attr.Item                       `json:"Key"`
	ConditionExpression                 *string                         `json:"ConditionExpression"`
	Expected                            map[string]expr.LegacyCondition `json:"Expected"`
	ConditionalOperator                 string                          `json:"ConditionalOperator"`
	ReturnValues                        string                          `json:"ReturnValues"`
	ReturnConsumedCapacity              string                          `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics         string                          `json:"ReturnItemCollectionMetrics"`
	ReturnValuesOnConditionCheckFailure string                          `json:"ReturnValuesOnConditionCheckFailure"`
}

func (s *Server) deleteItem(ctx context.Context, body, out []byte) ([]byte, error) {
	var in deleteItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.lookupTable(in.TableName)
	if err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("ReturnValues can only be ALL_OLD or NONE")
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	if err := checkReturnValuesOnFail(in.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	key, err := keyFromKey(d, in.Key)
	if err != nil {
		return nil, err
	}
	cond, err := writeCond(&in.exprInput, in.ConditionExpression, in.Expected, in.ConditionalOperator, nil)
	if err != nil {
		return nil, err
	}
	var res writeResult
	err = s.db.Write(ctx, func(w *store.WriteTx) error {
		var err error
		res, err = applyWrite(s, w, d.Name, key, cond, in.ReturnValuesOnConditionCheckFailure == "ALL_OLD", in.ReturnValues == "ALL_OLD",
			func(*store.TableDef, attr.Item) (attr.Item, int, error) { return nil, 0, nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	var ret attr.Item
	if in.ReturnValues == "ALL_OLD" {
		ret = res.old
	}
	return writeOutput(out, ret, writeCapacity(in.ReturnConsumedCapacity, d, writeUnits(res.oldSize), res.old, nil))
}

// ---- UpdateItem ----

type updateItemInput struct {
	exprInput
	TableName                           string                          `json:"TableName"`
	Key                                 attr.Item                       `json:"Key"`
	UpdateExpression                    *string                         `json:"UpdateExpression"`
	AttributeUpdates                    map[string]expr.LegacyUpdate    `json:"AttributeUpdates"`
	ConditionExpression                 *string                         `json:"ConditionExpression"`
	Expected                            map[string]expr.LegacyCondition `json:"Expected"`
	ConditionalOperator                 string                          `json:"ConditionalOperator"`
	ReturnValues                        string                          `json:"ReturnValues"`
	ReturnConsumedCapacity              string                          `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics         string                          `json:"ReturnItemCollectionMetrics"`
	ReturnValuesOnConditionCheckFailure string                          `json:"ReturnValuesOnConditionCheckFailure"`
}

// parseUpdate builds the update from UpdateExpression or AttributeUpdates and
// rejects updates of key attributes.
func parseUpdate(d *store.TableDef, ctx *expr.Context, updExpr *string, legacy map[string]expr.LegacyUpdate) (*expr.Update, error) {
	var u *expr.Update
	var err error
	switch {
	case updExpr != nil && legacy != nil:
		return nil, mixedErr("AttributeUpdates", "UpdateExpression")
	case updExpr != nil:
		u, err = expr.ParseUpdate(*updExpr, ctx)
	case legacy != nil:
		u, err = expr.UpdateFromLegacy(legacy)
	default:
		return &expr.Update{}, nil
	}
	if err != nil {
		return nil, err
	}
	for _, p := range u.Paths() {
		for _, k := range d.KeyNames() {
			if p.Top() == k {
				return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", k)
			}
		}
	}
	return u, nil
}

func (s *Server) updateItem(ctx context.Context, body, out []byte) ([]byte, error) {
	var in updateItemInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	d, err := s.lookupTable(in.TableName)
	if err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW":
	default:
		return nil, enumErr("returnValues", in.ReturnValues, "ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW")
	}
	if err := checkReturnConsumed(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	}
	if err := checkReturnValuesOnFail(in.ReturnValuesOnConditionCheckFailure); err != nil {
		return nil, err
	}
	key, err := keyFromKey(d, in.Key)
	if err != nil {
		return nil, err
	}
	var upd *expr.Update
	var extra func(*expr.Context) error
	if in.UpdateExpression != nil {
		extra = func(c *expr.Context) error {
			upd, err = parseUpdate(d, c, in.UpdateExpression, in.AttributeUpdates)
			return err
		}
	}
	cond, err := writeCond(&in.exprInput, in.ConditionExpression, in.Expected, in.ConditionalOperator, extra)
	if err != nil {
		return nil, err
	}
	if upd == nil {
		if upd, err = parseUpdate(d, nil, nil, in.AttributeUpdates); err != nil {
			return nil, err
		}
	}
	var res writeResult
	err = s.db.Write(ctx, func(w *store.WriteTx) error {
		var err error
		res, err = applyWrite(s, w, d.Name, key, cond, in.ReturnValuesOnConditionCheckFailure == "ALL_OLD", true, updateMutation(upd, in.Key))
		return err
	})
	if err != nil {
		return nil, err
	}
	var ret attr.Item
	switch in.ReturnValues {
	case "ALL_OLD":
		ret = res.old
	case "ALL_NEW":
		ret = res.cur
	case "UPDATED_OLD":
		ret = expr.Projection(upd.Paths()).Apply(res.old)
	case "UPDATED_NEW":
		ret = expr.Projection(upd.Paths()).Apply(res.cur)
	}
	return writeOutput(out, ret, writeCapacity(in.ReturnConsumedCapacity, d, writeUnits(max(res.oldSize, res.curSize)), res.old, res.cur))
}

func updateMutation(upd *expr.Update, key attr.Item) mutation {
	return func(d *store.TableDef, live attr.Item) (attr.Item, int, error) {
		base := live
		if base == nil {
			base = key
		}
		cur, err := upd.Apply(base)
		if err != nil {
			return nil, 0, err
		}
		size, err := checkUpdatedItem(d, cur)
		return cur, size, err
	}
}
