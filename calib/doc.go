// Package calib fits a deployment's durations, failure rates, terraform's
// per-process overhead and the throttling its APIs answered from the
// journals of past runs (exec's journal.jsonl), writes them as a
// calibration file beside the spec (echelon.calibration.json, see
// docs/calibration.md), and applies one to a plan for the simulator.
//
// The fit, decision by decision:
//
//   - Durations are lognormal, as sim draws them: the fit is the maximum
//     likelihood one in log space (mu the mean of ln x, sigma their
//     standard deviation), p50 = e^mu and p90 = e^(mu + 1.2816 sigma).
//     Each figure comes with its 95% range (Student's t on mu; the delta
//     method for p90), so a reader sees how far few samples carry. One
//     sample gives p50 and no spread: p90 keeps the spec's p90/p50 ratio,
//     and the file says so (p90_from).
//   - A sample is one attempt that succeeded. A terraform operation's
//     sample is the span of its own resources (the journal's resource
//     records: first start to last end), not the process's wall time: the
//     rest is the process's overhead, fitted per driver. A resource's
//     sample is its own time. Other drivers' samples are their attempt's
//     wall time less the driver's default per-process overhead
//     (sim.DefaultOverhead), which their journals cannot tell apart.
//   - Terraform's overhead of a step is its wall time less the span its
//     resources took; steps that were their run's first in their directory
//     pay init too. The per-process figure is the median over the other
//     steps (less the default per-resource cost); init is the median excess
//     of first steps over it. sim takes a fixed overhead, so the medians go
//     in and the spread is reported only.
//   - Outliers: samples whose log lies more than 3 scaled MADs (1.4826 x
//     the median absolute deviation) from the median log, with at least 3
//     samples. They are named, and kept in the fit: a tail that happened
//     is a tail the prediction should carry.
//   - Failure rate: failed attempts over attempts, per component and
//     action; throttled attempts (a throttle record names them), cancelled
//     ones and a coalesced step's instances cut short by another's error
//     are not failures of their own. Apply simulates it as a per-attempt
//     failure probability (sim.Options.TrialOutcome), so the spec's retries
//     and on_error cost what they cost.
//   - Throttling: the journal's throttle records per api the throttled
//     operations call, per run: reported, not fed back (the simulator's
//     token buckets model throttling from the spec's api blocks).
//
// A calibration changes neither spec_digest nor a plan: Apply returns a
// copy of the plan with calibrated durations (priorities unchanged: exec
// runs by the plan's) and the simulator's options.
package calib
