// Command svdhub-interop checks the audit ledger's published formats with the
// reference Go implementations, so the Python tests can cross-check the hub:
//
//   - C2SP signed-note: golang.org/x/mod/sumdb/note (Open, NewVerifier,
//     NewSigner, GenerateKey, Sign);
//   - C2SP tlog-checkpoint: github.com/transparency-dev/formats/log
//     (ParseCheckpoint, Checkpoint.Marshal);
//   - C2SP tlog-cosignature/v1 (Ed25519, key-ID algorithm byte 0x04):
//     github.com/transparency-dev/formats/note (NewVerifierForCosignatureV1,
//     NewSignerForCosignatureV1, CoSigV1Timestamp);
//   - RFC 6962 inclusion and consistency proofs:
//     github.com/transparency-dev/merkle/proof with the rfc6962 hasher.
//
// It reads ONE JSON request on stdin, {"op": "...", ...}, and writes ONE JSON
// answer on stdout: {"ok": true, ...} when the check passes or the thing was
// made, {"ok": false, "error": "..."} when a library refused it. Either way
// it exits 0. A request it cannot read (not JSON, an unknown op, a missing or
// mistyped field, bad base64 in a field the harness itself encodes) is the
// caller's bug, not a verdict: it answers {"ok": false, "error": ...} and
// exits 2. See tests/hub/audit/interop.py for each operation's fields.
//
// Test code only: it prints private keys it generates, by design.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// badRequest marks an error in the request itself (exit 2), as opposed to a
// verdict of the libraries (ok false, exit 0).
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &badRequest{fmt.Sprintf(format, args...)}
}

// refused is a library's verdict: the answer is {"ok": false, "error": ...}
// plus any details (such as the unverified signatures of a note).
type refused struct {
	err     error
	details map[string]any
}

func (e *refused) Error() string { return e.err.Error() }

func refuse(err error, details map[string]any) error { return &refused{err, details} }

type answer = map[string]any

// ops maps each operation to its handler, which reads its own fields.
var ops = map[string]func(json.RawMessage) (answer, error){
	"open_note":          openNote,
	"parse_checkpoint":   parseCheckpoint,
	"verify_cosignature": verifyCosignature,
	"verify_inclusion":   verifyInclusion,
	"verify_consistency": verifyConsistency,
	"sign_note":          signNote,
	"cosign":             cosign,
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(stdin io.Reader, stdout, stderr io.Writer) int {
	out := json.NewEncoder(stdout)
	result, err := handle(stdin)
	var bad *badRequest
	var no *refused
	switch {
	case errors.As(err, &bad):
		fmt.Fprintln(stderr, "svdhub-interop: bad request:", bad.msg)
		_ = out.Encode(answer{"ok": false, "error": "bad request: " + bad.msg})
		return 2
	case errors.As(err, &no):
		reply := answer{"ok": false, "error": no.err.Error()}
		for k, v := range no.details {
			reply[k] = v
		}
		_ = out.Encode(reply)
		return 0
	case err != nil:
		_ = out.Encode(answer{"ok": false, "error": err.Error()})
		return 0
	}
	result["ok"] = true
	if err := out.Encode(result); err != nil {
		fmt.Fprintln(stderr, "svdhub-interop:", err)
		return 1
	}
	return 0
}

func handle(stdin io.Reader) (answer, error) {
	raw, err := io.ReadAll(stdin)
	if err != nil {
		return nil, malformed("reading stdin: %v", err)
	}
	var head struct {
		Op *string `json:"op"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, malformed("not a JSON object: %v", err)
	}
	if head.Op == nil {
		return nil, malformed(`no "op"`)
	}
	op, found := ops[*head.Op]
	if !found {
		return nil, malformed("unknown op %q", *head.Op)
	}
	return op(raw)
}

// decode reads the request into v (a struct of the op's fields, "op"
// included), refusing unknown fields and any missing field named in required.
func decode(raw json.RawMessage, v any, required ...string) error {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return malformed("not a JSON object: %v", err)
	}
	for _, name := range required {
		if value, ok := present[name]; !ok || string(value) == "null" {
			return malformed("missing field %q", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("%v", err)
	}
	return nil
}

func unb64(field, value string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, malformed("field %q is not base64: %v", field, err)
	}
	return b, nil
}

func unb64List(field string, values []string) ([][]byte, error) {
	out := make([][]byte, len(values))
	for i, v := range values {
		b, err := unb64(fmt.Sprintf("%s[%d]", field, i), v)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// ---------------------------------------------------------------- signed notes

// newVerifier reads a verifier key "name+hash+base64(alg || key)": a
// cosignature/v1 key (alg 0x04) with formats/note, any other with x/mod's
// note.NewVerifier (Ed25519, alg 0x01).
func newVerifier(vkey string) (note.Verifier, error) {
	_, rest, _ := strings.Cut(vkey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	if key, err := base64.StdEncoding.DecodeString(key64); err == nil && len(key) > 0 && key[0] == 0x04 {
		return fnote.NewVerifierForCosignatureV1(vkey)
	}
	return note.NewVerifier(vkey)
}

func newVerifiers(vkeys []string) ([]note.Verifier, error) {
	out := make([]note.Verifier, 0, len(vkeys))
	for _, k := range vkeys {
		v, err := newVerifier(k)
		if err != nil {
			return nil, refuse(fmt.Errorf("verifier key %q: %w", k, err), nil)
		}
		out = append(out, v)
	}
	return out, nil
}

type sigJSON struct {
	Name   string `json:"name"`
	KeyID  string `json:"key_id"` // the 4-byte key hash, 8 hex digits
	Base64 string `json:"signature"`
}

func sigsJSON(sigs []note.Signature) []sigJSON {
	out := make([]sigJSON, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, sigJSON{s.Name, fmt.Sprintf("%08x", s.Hash), s.Base64})
	}
	return out
}

func openNote(raw json.RawMessage) (answer, error) {
	var req struct {
		Op           string   `json:"op"`
		Note         string   `json:"note"`
		VerifierKeys []string `json:"verifier_keys"`
	}
	if err := decode(raw, &req, "note", "verifier_keys"); err != nil {
		return nil, err
	}
	verifiers, err := newVerifiers(req.VerifierKeys)
	if err != nil {
		return nil, err
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return nil, refuse(err, answer{"unverified": sigsJSON(unverified.Note.UnverifiedSigs)})
		}
		return nil, refuse(err, nil)
	}
	names := make([]string, 0, len(n.Sigs))
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	return answer{
		"text":       n.Text,
		"verified":   names,
		"signatures": sigsJSON(n.Sigs),
		"unverified": sigsJSON(n.UnverifiedSigs),
	}, nil
}

func parseCheckpoint(raw json.RawMessage) (answer, error) {
	var req struct {
		Op                string   `json:"op"`
		Note              string   `json:"note"`
		Origin            string   `json:"origin"`
		VerifierKey       string   `json:"verifier_key"`
		OtherVerifierKeys []string `json:"other_verifier_keys"`
	}
	if err := decode(raw, &req, "note", "origin", "verifier_key"); err != nil {
		return nil, err
	}
	logVerifier, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		return nil, refuse(fmt.Errorf("verifier key %q: %w", req.VerifierKey, err), nil)
	}
	others, err := newVerifiers(req.OtherVerifierKeys)
	if err != nil {
		return nil, err
	}
	cp, rest, n, err := log.ParseCheckpoint([]byte(req.Note), req.Origin, logVerifier, others...)
	if err != nil {
		return nil, refuse(err, nil)
	}
	extensions := []string{}
	if len(rest) > 0 {
		extensions = strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
	}
	names := make([]string, 0, len(n.Sigs))
	for _, s := range n.Sigs {
		names = append(names, s.Name)
	}
	return answer{
		"origin":     cp.Origin,
		"size":       cp.Size,
		"root":       base64.StdEncoding.EncodeToString(cp.Hash),
		"rest":       string(rest),
		"extensions": extensions,
		"verified":   names,
		"unverified": sigsJSON(n.UnverifiedSigs),
	}, nil
}

// ------------------------------------------------------------ cosignature/v1

// cosignatureVKey is the verifier key of an Ed25519 cosignature/v1 key: key
// ID = SHA-256(name || "\n" || 0x04 || public key)[:4].
func cosignatureVKey(name string, public ed25519.PublicKey) string {
	key := append([]byte{0x04}, public...)
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), base64.StdEncoding.EncodeToString(key))
}

func verifyCosignature(raw json.RawMessage) (answer, error) {
	var req struct {
		Op                string `json:"op"`
		Note              string `json:"note"`
		CosignerName      string `json:"cosigner_name"`
		CosignerPublicKey string `json:"cosigner_public_key"`
	}
	if err := decode(raw, &req, "note", "cosigner_name", "cosigner_public_key"); err != nil {
		return nil, err
	}
	public, err := unb64("cosigner_public_key", req.CosignerPublicKey)
	if err != nil {
		return nil, err
	}
	if len(public) != ed25519.PublicKeySize {
		return nil, malformed("cosigner_public_key has %d bytes, not %d", len(public), ed25519.PublicKeySize)
	}
	vkey := cosignatureVKey(req.CosignerName, public)
	verifier, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, refuse(fmt.Errorf("cosigner key %q: %w", vkey, err), nil)
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifier))
	if err != nil {
		return nil, refuse(err, answer{"verifier_key": vkey})
	}
	for _, s := range n.Sigs {
		if s.Name == verifier.Name() && s.Hash == verifier.KeyHash() {
			t, err := fnote.CoSigV1Timestamp(s)
			if err != nil {
				return nil, refuse(err, nil)
			}
			return answer{
				"timestamp":    t.Unix(),
				"verifier_key": vkey,
				"key_id":       fmt.Sprintf("%08x", s.Hash),
			}, nil
		}
	}
	return nil, refuse(errors.New("no cosignature by that key"), nil)
}

// timedCosigner signs a cosignature/v1 at a given time, from the C2SP spec:
// the signature is u64 big-endian timestamp || Ed25519 over
// "cosignature/v1\ntime <ts>\n" || note text. (formats/note's signer always
// uses the current time; the self-tests check that the library's verifier
// accepts what this makes.)
type timedCosigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	time uint64
}

func (s *timedCosigner) Name() string    { return s.name }
func (s *timedCosigner) KeyHash() uint32 { return s.hash }
func (s *timedCosigner) Sign(msg []byte) ([]byte, error) {
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", s.time, msg)
	sig := binary.BigEndian.AppendUint64(nil, s.time)
	return append(sig, ed25519.Sign(s.key, m)...), nil
}

// cosignerKey reads "PRIVATE+KEY+name+hash+base64(alg || seed)" (alg 0x01 or
// 0x04) into the name and Ed25519 key, or makes a new key for name.
func cosignerKey(skey, name string) (string, ed25519.PrivateKey, string, error) {
	if skey == "" {
		if name == "" {
			return "", nil, "", malformed(`cosign needs "signer_key" or "name"`)
		}
		_, private, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", nil, "", err
		}
		// The same key ID as the verifier key's: SHA-256(name || "\n" || 0x04 || public)[:4].
		id := strings.Split(cosignatureVKey(name, private.Public().(ed25519.PublicKey)), "+")[1]
		seed := append([]byte{0x04}, private.Seed()...)
		skey = fmt.Sprintf("PRIVATE+KEY+%s+%s+%s", name, id, base64.StdEncoding.EncodeToString(seed))
		return name, private, skey, nil
	}
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", nil, "", refuse(errors.New("signer key is not PRIVATE+KEY+name+hash+key"), nil)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || (raw[0] != 0x01 && raw[0] != 0x04) {
		return "", nil, "", refuse(errors.New("signer key is not an Ed25519 key (alg 0x01 or 0x04)"), nil)
	}
	return parts[2], ed25519.NewKeyFromSeed(raw[1:]), skey, nil
}

func cosign(raw json.RawMessage) (answer, error) {
	var req struct {
		Op        string  `json:"op"`
		Note      string  `json:"note"`
		SignerKey string  `json:"signer_key"`
		Name      string  `json:"name"`
		Timestamp *uint64 `json:"timestamp"`
	}
	if err := decode(raw, &req, "note"); err != nil {
		return nil, err
	}
	name, private, skey, err := cosignerKey(req.SignerKey, req.Name)
	if err != nil {
		return nil, err
	}
	var signer note.Signer
	if req.Timestamp == nil {
		// The library's own signer, which stamps the current time.
		s, err := fnote.NewSignerForCosignatureV1(skey)
		if err != nil {
			return nil, refuse(err, nil)
		}
		signer = s
	} else {
		vkey := cosignatureVKey(name, private.Public().(ed25519.PublicKey))
		v, err := fnote.NewVerifierForCosignatureV1(vkey)
		if err != nil {
			return nil, refuse(err, nil)
		}
		signer = &timedCosigner{name, v.KeyHash(), private, *req.Timestamp}
	}
	// Keep the note's signatures as they are, without checking them.
	n, err := note.Open([]byte(req.Note), note.VerifierList())
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		n = unverified.Note
	case err != nil:
		return nil, refuse(err, nil)
	}
	signed, err := note.Sign(n, signer)
	if err != nil {
		return nil, refuse(err, nil)
	}
	opened, err := note.Open(signed, note.VerifierList(verifierOf(name, private)))
	if err != nil {
		return nil, refuse(fmt.Errorf("the cosignature just made does not verify: %w", err), nil)
	}
	last := opened.Sigs[0]
	t, err := fnote.CoSigV1Timestamp(last)
	if err != nil {
		return nil, refuse(err, nil)
	}
	public := private.Public().(ed25519.PublicKey)
	return answer{
		"note":         string(signed),
		"name":         name,
		"signer_key":   skey,
		"verifier_key": cosignatureVKey(name, public),
		"public_key":   base64.StdEncoding.EncodeToString(public),
		"key_id":       fmt.Sprintf("%08x", last.Hash),
		"signature":    last.Base64,
		"timestamp":    t.Unix(),
	}, nil
}

func verifierOf(name string, private ed25519.PrivateKey) note.Verifier {
	v, err := fnote.NewVerifierForCosignatureV1(cosignatureVKey(name, private.Public().(ed25519.PublicKey)))
	if err != nil {
		panic(err) // a key this program made itself
	}
	return v
}

// ---------------------------------------------------------------- signing

type checkpointJSON struct {
	Origin     string   `json:"origin"`
	Size       uint64   `json:"size"`
	Root       string   `json:"root"`
	Extensions []string `json:"extensions"`
}

func signNote(raw json.RawMessage) (answer, error) {
	var req struct {
		Op         string          `json:"op"`
		Text       *string         `json:"text"`
		Checkpoint *checkpointJSON `json:"checkpoint"`
		SignerKeys []string        `json:"signer_keys"`
		Names      []string        `json:"names"`
	}
	if err := decode(raw, &req); err != nil {
		return nil, err
	}
	var text string
	switch {
	case (req.Text == nil) == (req.Checkpoint == nil):
		return nil, malformed(`sign_note needs exactly one of "text" and "checkpoint"`)
	case req.Text != nil:
		text = *req.Text
	default:
		root, err := unb64("checkpoint.root", req.Checkpoint.Root)
		if err != nil {
			return nil, err
		}
		body := log.Checkpoint{Origin: req.Checkpoint.Origin, Size: req.Checkpoint.Size, Hash: root}.Marshal()
		text = string(body)
		for _, line := range req.Checkpoint.Extensions {
			text += line + "\n"
		}
	}
	if len(req.SignerKeys) == 0 && len(req.Names) == 0 {
		return nil, malformed(`sign_note needs "signer_keys" or "names"`)
	}
	skeys := append([]string{}, req.SignerKeys...)
	for _, name := range req.Names {
		skey, _, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return nil, refuse(fmt.Errorf("generating a key for %q: %w", name, err), nil)
		}
		skeys = append(skeys, skey)
	}
	signers := make([]note.Signer, 0, len(skeys))
	keys := make([]answer, 0, len(skeys))
	for _, skey := range skeys {
		s, err := note.NewSigner(skey)
		if err != nil {
			return nil, refuse(fmt.Errorf("signer key: %w", err), nil)
		}
		signers = append(signers, s)
		vkey, err := verifierKeyOf(skey)
		if err != nil {
			return nil, refuse(fmt.Errorf("signer key: %w", err), nil)
		}
		keys = append(keys, answer{"name": s.Name(), "signer_key": skey, "verifier_key": vkey})
	}
	signed, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		return nil, refuse(err, nil)
	}
	return answer{"note": string(signed), "text": text, "keys": keys}, nil
}

// verifierKeyOf derives "name+hash+base64(0x01 || public)" from an Ed25519
// signer key "PRIVATE+KEY+name+hash+base64(0x01 || seed)".
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return "", errors.New("not PRIVATE+KEY+name+hash+key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return "", errors.New("not an Ed25519 key")
	}
	public := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], public)
}

// ---------------------------------------------------------------- proofs

func verifyInclusion(raw json.RawMessage) (answer, error) {
	var req struct {
		Op        string   `json:"op"`
		LeafIndex uint64   `json:"leaf_index"`
		TreeSize  uint64   `json:"tree_size"`
		LeafHash  string   `json:"leaf_hash"`
		Proof     []string `json:"proof"`
		Root      string   `json:"root"`
	}
	if err := decode(raw, &req, "leaf_index", "tree_size", "leaf_hash", "proof", "root"); err != nil {
		return nil, err
	}
	leaf, err := unb64("leaf_hash", req.LeafHash)
	if err != nil {
		return nil, err
	}
	root, err := unb64("root", req.Root)
	if err != nil {
		return nil, err
	}
	path, err := unb64List("proof", req.Proof)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, req.LeafIndex, req.TreeSize, leaf, path, root); err != nil {
		return nil, refuse(err, nil)
	}
	return answer{}, nil
}

func verifyConsistency(raw json.RawMessage) (answer, error) {
	var req struct {
		Op      string   `json:"op"`
		OldSize uint64   `json:"old_size"`
		NewSize uint64   `json:"new_size"`
		OldRoot string   `json:"old_root"`
		NewRoot string   `json:"new_root"`
		Proof   []string `json:"proof"`
	}
	if err := decode(raw, &req, "old_size", "new_size", "old_root", "new_root", "proof"); err != nil {
		return nil, err
	}
	oldRoot, err := unb64("old_root", req.OldRoot)
	if err != nil {
		return nil, err
	}
	newRoot, err := unb64("new_root", req.NewRoot)
	if err != nil {
		return nil, err
	}
	path, err := unb64List("proof", req.Proof)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, req.OldSize, req.NewSize, path, oldRoot, newRoot); err != nil {
		return nil, refuse(err, nil)
	}
	return answer{}, nil
}
