import { afterAll } from "vitest";
import { killSpawned } from "./gateway.js";

// Every test file: no gateway child outlives its file, even when a test failed before stopping it.
afterAll(() => killSpawned());
