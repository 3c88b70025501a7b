/** What sipp's final screens say about a run; the bench reads them instead of trusting its own clock. */
export interface SippStats {
  successful: number;
  failed: number;
  retransmissions: number;
  timeouts: number;
  /** Cumulative call rate sipp reports (calls/s). */
  rate: number;
}

export function parseSippScreen(out: string): SippStats {
  const num = (re: RegExp): number => {
    const m = out.match(re);
    return m ? Number(m[1]) : NaN;
  };
  let retransmissions = 0;
  let timeouts = 0;
  // Message rows look like "     OPTIONS ---------->         20000     0         0".
  for (const m of out.matchAll(/^\s+\S+\s+(?:-+>|<-+)\s+(\d+)\s+(\d+)\s+(\d+)/gm)) {
    retransmissions += Number(m[2]);
    timeouts += Number(m[3]);
  }
  return {
    successful: num(/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/),
    failed: num(/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/),
    retransmissions,
    timeouts,
    rate: num(/Call Rate\s+\|\s+[\d.]+ cps\s+\|\s+([\d.]+) cps/),
  };
}
