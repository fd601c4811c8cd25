package sitefile

import "testing"

// BenchmarkParse reads the demo depot (12 chargers) with validation.
func BenchmarkParse(b *testing.B) {
	data := readExample(b, "demo-depot.yaml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("demo-depot.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshal writes the demo depot back out.
func BenchmarkMarshal(b *testing.B) {
	c, err := Parse("demo-depot.yaml", readExample(b, "demo-depot.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}
