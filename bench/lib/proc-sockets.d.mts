export function establishedPerProcess(pids: number[], port: number): number[];
export function childPids(pid: number): number[];
export function descendantPids(pid: number): number[];
