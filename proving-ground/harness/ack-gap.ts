/**
 * The longest time between two consecutive acknowledgements (ms since the epoch), of those from
 * `from` to `to`: how long the generator went without hearing that an order was stored. The
 * figure the chaos runs report and the kubelet suites assert.
 */
export function longestGap(acks: { at: number }[], from = -Infinity, to = Infinity): number {
  const times = acks.map((ack) => ack.at).filter((at) => at >= from && at <= to).sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest, (times[i] as number) - (times[i - 1] as number));
  return longest;
}
