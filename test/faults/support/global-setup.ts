import type { TestProject } from "vitest/node";
import templateSetup from "../../support/global-setup.js";
import { newTableFile, printTable } from "./fault-table.js";

/** The template database of the server tests, and the fault table printed once every scenario ran. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dropTemplate = await templateSetup(project);
  const table = newTableFile();
  project.provide("faultTable", table);
  return async () => {
    printTable(table);
    await dropTemplate();
  };
}
