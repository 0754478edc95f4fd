/**
 * @module format-time
 * Message times: the clock time today, with the date before that.
 */
const sameDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const otherDay = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

export function formatTime(date: Date, now = new Date()): string {
  return date.toDateString() === now.toDateString() ? sameDay.format(date) : otherDay.format(date);
}
