const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string has the shape of a UUID: anything else cannot name a row, and never reaches a uuid column. */
export const isUuid = (v: string): boolean => UUID_SHAPE.test(v);
