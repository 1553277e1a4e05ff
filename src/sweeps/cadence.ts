/**
 * The node-cron expression of a sweep cadence. The config schema only lets
 * through cadences that divide 60, or multiples of 60 that divide 3600, so
 * every run falls on the same wall-clock grid in every process.
 */
export function cronExpression(seconds: number): string {
  if (seconds < 60) return `*/${seconds} * * * * *`;
  if (seconds === 60) return "0 * * * * *";
  if (seconds === 3600) return "0 0 * * * *";
  return `0 */${seconds / 60} * * * *`;
}
