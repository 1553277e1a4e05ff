/** A response body as loose JSON: tests assert on its shape field by field. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON
export const json = async (res: Response): Promise<any> => res.json();
