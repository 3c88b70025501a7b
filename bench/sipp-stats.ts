/** What sipp's final screens say about a run; the bench reads them instead of trusting its own clock. */
export interface SippStats {
  successful: number;
  failed: number;
  retransmissions: number;
  timeouts: number;
  /**
   * sipp's "Call Rate" cumulative (calls/s). Misleading on its own: it divides by the whole run, including
   * the tail spent waiting for calls that timed out. `achievedRate` is the figure to quote.
   */
  rate: number;
  /** UDP send errors sipp counted (e.g. ENOBUFS on its own socket). */
  udpSendErrors: number;
}

export function parseSippScreen(out: string): SippStats {
  const num = (re: RegExp): number => {
    const m = out.match(re);
    return m ? Number(m[1]) : NaN;
  };
  let retransmissions = 0;
  let timeouts = 0;
  // Message rows look like "     OPTIONS ---------->  B-RTD1 20000     0         0": the RTD marker is
  // there only when the scenario measures response times.
  for (const m of out.matchAll(/^\s+\S+\s+(?:-+>|<-+)\s+(?:[BE]-RTD\d+\s+)?(\d+)\s+(\d+)\s+(\d+)/gm)) {
    retransmissions += Number(m[2]);
    timeouts += Number(m[3]);
  }
  return {
    successful: num(/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/),
    failed: num(/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/),
    retransmissions,
    timeouts,
    rate: num(/Call Rate\s+\|\s+[\d.]+ cps\s+\|\s+([\d.]+) cps/),
    udpSendErrors: num(/(\d+)\/\d+\/\d+ UDP errors \(send\/recv\/cong\)/),
  };
}

/** Calls that completed, as `-trace_rtt -rtt_freq N` wrote them (one row per successful call). */
export interface RttSummary {
  calls: number;
  /** From the start of the first call to the end of the last one, in seconds. */
  spanSeconds: number;
  /** Successful calls per second over that span: the throughput actually achieved. */
  achievedRate: number;
  /**
   * Calls per second from the first call's start to the last call's start: the rate sipp really offered. Below
   * the requested rate, the load generator itself fell behind.
   */
  generatedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Reads sipp's `<scenario>_<pid>_rtt.csv`: `Date_ms;response_time_ms;rtd_no`, where Date_ms is when the
 * call's response time was measured (ms since sipp started) and response_time_ms how long it took.
 */
export function parseRttCsv(text: string): RttSummary {
  let first = Infinity;
  let last = -Infinity;
  let lastStart = -Infinity;
  const times: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([\d.]+);([\d.]+);\d+/.exec(line);
    if (!m) continue;
    const at = Number(m[1]);
    const rtt = Number(m[2]);
    times.push(rtt);
    if (at - rtt < first) first = at - rtt;
    if (at - rtt > lastStart) lastStart = at - rtt;
    if (at > last) last = at;
  }
  times.sort((a, b) => a - b);
  const pct = (p: number): number => (times.length === 0 ? NaN : times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!);
  const spanSeconds = times.length === 0 ? NaN : Math.max(last - first, 1) / 1000;
  return {
    calls: times.length,
    spanSeconds,
    achievedRate: times.length / spanSeconds,
    generatedRate: times.length < 2 ? NaN : (times.length - 1) / (Math.max(lastStart - first, 1) / 1000),
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: times.length === 0 ? NaN : times[times.length - 1]!,
  };
}
