package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"testing"
)

// The workloads and the seeded arrival order are the benchmark's
// definition: results from two commits compare only if both ran the same
// items in the same order. These digests change only when the definition
// does; update them on purpose, and say in the commit that results from
// before and after are not comparable.

// stableSpecs are small specs of every workload.
var stableSpecs = []WorkloadSpec{
	{Name: "mix", Items: 300, Seed: 1},
	{Name: "tree", Items: 200, Seed: 1},
	{Name: "hol", Items: 100, Scale: 0.1, Seed: 1},
	{Name: "bulk", Items: 10, Scale: 0.05, Seed: 1},
}

// workloadDigests are the SHA-256 of every item of stableSpecs.
var workloadDigests = map[string]string{
	"mix":  "2e0e7dcd8805de803531162a75abbeee24fd03e827f4c4c126561a8edbebb336",
	"tree": "b62a895ecf406c4dbf576767520b8220634f380fbeb5cd23821abb5533736c7f",
	"hol":  "c2845292b8b26b2e8ed5b517591e07451c2f850272e20850d1406a097eecfa53",
	"bulk": "77774c78b11e2ff23dfd9818fa36497702995cfab14ba578a1a32b8c77fc4582",
}

// arrivalDigests are the SHA-256 of the dispatch and seeded arrival
// orders of stableSpecs with 2 workers and seed 1.
var arrivalDigests = map[string]string{
	"mix":  "1db1d2a54895907b1f26f9b2ec2c765ad325a8d424a7ad58f7bc028d1361eb43",
	"tree": "85b00ecfb42686026fc0c6a85cdede8b95dc3bad661b1b1a060be9b5dfd97a5e",
	"hol":  "f0214f21633dacf0c04e0621cab199d95708e90dc324cb46a405cdaa23b86605",
	"bulk": "8b920d89f890441d587489fb0a77b2f6f73f7f0cd1c2433309f2521c8c3d2247",
}

func TestWorkloadsAreStable(t *testing.T) {
	for _, spec := range stableSpecs {
		wl, err := NewWorkload(spec)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		field := func(b []byte) {
			h.Write(binary.AppendUvarint(nil, uint64(len(b))))
			h.Write(b)
		}
		for seq := range uint64(wl.Len()) {
			it := wl.Item(seq)
			h.Write(binary.AppendUvarint(nil, it.Seq))
			h.Write(binary.AppendUvarint(nil, uint64(it.Index)))
			h.Write([]byte{byte(it.Strategy), byte(it.Status), byte(it.Emit)})
			field(it.Target)
			field(it.Basis)
			field(wl.Basis(seq))
			field(it.Reason)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != workloadDigests[spec.Name] {
			t.Errorf("workload %s: items digest %s, want %s: the workload changed", spec.Name, got, workloadDigests[spec.Name])
		}
	}
}

func TestSeededArrivalIsStable(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		// The model's costs are floating point; an architecture that
		// fuses multiply-adds may round them, and the order, otherwise.
		t.Skipf("the arrival digests were taken on amd64, not %s", runtime.GOARCH)
	}
	for _, spec := range stableSpecs {
		wl, err := NewWorkload(spec)
		if err != nil {
			t.Fatal(err)
		}
		p := Prepare(wl)
		order := dispatchOrder(p)
		arrival := arrivalOrder(order, p.modelCost, 2, 1)
		h := sha256.New()
		for _, seq := range append(order, arrival...) {
			h.Write(binary.AppendUvarint(nil, seq))
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != arrivalDigests[spec.Name] {
			t.Errorf("workload %s: order digest %s, want %s: the seeded schedule changed", spec.Name, got, arrivalDigests[spec.Name])
		}
	}
}

// Zero items means the workload's default count, not an error.
func TestZeroItemsIsTheDefault(t *testing.T) {
	for _, name := range Workloads {
		wl, err := NewWorkload(WorkloadSpec{Name: name})
		if err != nil || wl.Len() <= 0 {
			t.Errorf("%s with zero items: %v", name, err)
		}
	}
}

// mutateDigest is the SHA-256 of mutate's edits of a 32 KiB file under
// 2000 seeds: three edits each, a few of which run into the file's end.
const mutateDigest = "fef90a3bd996329086d975b5a47519e11a56468c3a10ac0f91dcc2c0c562d1fa"

// The edits tree and hol make to their files are part of the definition
// too, including the rare edit that runs past a file's end.
func TestMutateIsStable(t *testing.T) {
	basis := textBytes(rand.New(rand.NewPCG(1, 1)), 32<<10)
	h := sha256.New()
	for seed := range uint64(2000) {
		out := mutate(rand.New(rand.NewPCG(seed, 7)), basis)
		h.Write(binary.AppendUvarint(nil, uint64(len(out))))
		h.Write(out)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mutateDigest {
		t.Errorf("mutate digest %s, want %s: the edits changed", got, mutateDigest)
	}
}
