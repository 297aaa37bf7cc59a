// prom-parse reads a Prometheus text exposition from stdin with the
// reference parser (github.com/prometheus/common/expfmt, what Prometheus
// itself uses) and prints the families as JSON on stdout, keyed by name.
// A document the parser refuses is an error: the message on stderr, exit 1.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

type bucket struct {
	Le    string  `json:"le"`
	Count uint64  `json:"count"`
	upper float64 // for ordering
}

type sample struct {
	Labels  map[string]string `json:"labels"`
	Value   *float64          `json:"value,omitempty"`
	Buckets []bucket          `json:"buckets,omitempty"`
	Sum     *float64          `json:"sum,omitempty"`
	Count   *uint64           `json:"count,omitempty"`
}

type family struct {
	Help    string   `json:"help"`
	Type    string   `json:"type"`
	Samples []sample `json:"samples"`
}

func number(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func main() {
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := map[string]family{}
	for name, mf := range families {
		f := family{Help: mf.GetHelp(), Type: mf.GetType().String()}
		for _, m := range mf.Metric {
			s := sample{Labels: map[string]string{}}
			for _, l := range m.Label {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.Value = number(m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				s.Value = number(m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				s.Value = number(m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.Bucket {
					u := b.GetUpperBound()
					s.Buckets = append(s.Buckets, bucket{Le: fmt.Sprint(u), Count: b.GetCumulativeCount(), upper: u})
				}
				sort.Slice(s.Buckets, func(i, j int) bool { return s.Buckets[i].upper < s.Buckets[j].upper })
				s.Sum = number(h.GetSampleSum())
				c := h.GetSampleCount()
				s.Count = &c
			}
			f.Samples = append(f.Samples, s)
		}
		out[name] = f
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
