package etcd

import (
	"context"
	"encoding/json"
)

// The messages of etcd's KV service (rpc.proto: RangeRequest, PutRequest,
// DeleteRangeRequest, TxnRequest, Compare, RequestOp and their
// responses), as the gateway writes them: field names as in the .proto,
// bytes in base64 ([]byte does that), int64 as strings (",string"),
// enums by name, and fields at their zero value left out.

type responseHeader struct {
	Revision int64 `json:"revision,string"`
}

type keyValue struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision,string"`
	ModRevision    int64  `json:"mod_revision,string"`
	Version        int64  `json:"version,string"`
	Lease          int64  `json:"lease,string"`
}

type rangeRequest struct {
	Key        []byte `json:"key"`
	RangeEnd   []byte `json:"range_end,omitempty"`
	Limit      int64  `json:"limit,omitempty,string"`
	SortOrder  string `json:"sort_order,omitempty"`  // "ASCEND"
	SortTarget string `json:"sort_target,omitempty"` // "CREATE"
	CountOnly  bool   `json:"count_only,omitempty"`
}

type rangeResponse struct {
	Header responseHeader `json:"header"`
	Kvs    []keyValue     `json:"kvs"`
	Count  int64          `json:"count,string"`
}

type putRequest struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
	Lease int64  `json:"lease,omitempty,string"`
}

type deleteRangeRequest struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

// compare is a condition of a transaction: the target of key compared
// with a value. etcd compares an absent key's revisions as 0.
type compare struct {
	Result         string `json:"result"` // "EQUAL"
	Target         string `json:"target"` // "CREATE", "MOD"
	Key            []byte `json:"key"`
	CreateRevision *int64 `json:"create_revision,omitempty,string"`
	ModRevision    *int64 `json:"mod_revision,omitempty,string"`
}

// requestOp is one operation of a transaction.
type requestOp struct {
	Range  *rangeRequest       `json:"request_range,omitempty"`
	Put    *putRequest         `json:"request_put,omitempty"`
	Delete *deleteRangeRequest `json:"request_delete_range,omitempty"`
}

type txnRequest struct {
	Compare []compare   `json:"compare,omitempty"`
	Success []requestOp `json:"success,omitempty"`
	Failure []requestOp `json:"failure,omitempty"`
}

type responseOp struct {
	Range *rangeResponse `json:"response_range"`
}

type txnResponse struct {
	Header    responseHeader `json:"header"`
	Succeeded bool           `json:"succeeded"`
	Responses []responseOp   `json:"responses"`
}

// rangeOf returns the i'th answer of a transaction as a range's, empty
// when it is not one.
func (r *txnResponse) rangeOf(i int) *rangeResponse {
	if i < len(r.Responses) && r.Responses[i].Range != nil {
		return r.Responses[i].Range
	}
	return &rangeResponse{}
}

// prefixEnd returns the end of the range of keys that start with prefix,
// as clientv3.GetPrefixRangeEnd: prefix with its last byte below 0xff
// increased, or "\x00" (every key from prefix on) when there is none.
func prefixEnd(prefix string) []byte {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

func getKey(key string) *rangeRequest { return &rangeRequest{Key: []byte(key)} }

func getPrefix(prefix string) *rangeRequest {
	return &rangeRequest{Key: []byte(prefix), RangeEnd: prefixEnd(prefix)}
}

// countPrefix counts the keys under prefix without reading them.
func countPrefix(prefix string) *rangeRequest {
	r := getPrefix(prefix)
	r.CountOnly = true
	return r
}

// firstCreated reads the key under prefix created first, as clientv3's
// WithFirstCreate.
func firstCreated(prefix string) *rangeRequest {
	r := getPrefix(prefix)
	r.SortTarget, r.SortOrder, r.Limit = "CREATE", "ASCEND", 1
	return r
}

func opGet(r *rangeRequest) requestOp { return requestOp{Range: r} }

// opPut puts value at key, under lease unless it is 0.
func opPut(key, value string, lease int64) requestOp {
	return requestOp{Put: &putRequest{Key: []byte(key), Value: []byte(value), Lease: lease}}
}

func opDelete(key string) requestOp { return requestOp{Delete: &deleteRangeRequest{Key: []byte(key)}} }

// key returns the key an operation acts on.
func (o requestOp) key() string {
	switch {
	case o.Range != nil:
		return string(o.Range.Key)
	case o.Put != nil:
		return string(o.Put.Key)
	case o.Delete != nil:
		return string(o.Delete.Key)
	}
	return ""
}

// modRevisionIs holds when key was last changed at rev (0: absent).
func modRevisionIs(key string, rev int64) compare {
	return compare{Result: "EQUAL", Target: "MOD", Key: []byte(key), ModRevision: &rev}
}

// createRevisionIs holds when key was created at rev (0: absent).
func createRevisionIs(key string, rev int64) compare {
	return compare{Result: "EQUAL", Target: "CREATE", Key: []byte(key), CreateRevision: &rev}
}

// get reads a key or a range.
func (c *Client) get(ctx context.Context, r *rangeRequest) (*rangeResponse, error) {
	var out rangeResponse
	if err := c.call(ctx, "/v3/kv/range", r, &out, retryAlways); err != nil {
		return nil, err
	}
	return &out, nil
}

// put writes a key.
func (c *Client) put(ctx context.Context, key, value string, lease int64) error {
	var out json.RawMessage
	return c.call(ctx, "/v3/kv/put", opPut(key, value, lease).Put, &out, retryUnsent)
}

// txn runs a transaction.
func (c *Client) txn(ctx context.Context, t txnRequest) (*txnResponse, error) {
	var out txnResponse
	if err := c.call(ctx, "/v3/kv/txn", t, &out, retryUnsent); err != nil {
		return nil, err
	}
	return &out, nil
}

// del deletes a key.
func (c *Client) del(ctx context.Context, key string) error {
	var out json.RawMessage
	return c.call(ctx, "/v3/kv/deleterange", opDelete(key).Delete, &out, retryUnsent)
}
