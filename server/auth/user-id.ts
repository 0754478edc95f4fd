/** @module user-id The user id format of design.md. */
export const userIdPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
