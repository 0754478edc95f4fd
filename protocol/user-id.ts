/**
 * @module user-id
 * The user id format of design.md, shared by the server (schemas, tokens, CLI), the SDK
 * and the demo page.
 */
export const userIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isUserId(text: string): boolean {
  return userIdPattern.test(text);
}
