/**
 * Calendar dates as comparable integers (`YYYYMMDD`), read without `Date`
 * objects or regular expressions so evaluation allocates nothing.
 */

const ZERO = 48;
const NINE = 57;
const DASH = 45;
const UPPER_T = 84;
const LOWER_T = 116;
const SPACE = 32;

/** Value returned by {@link readDate} for a string that is not a date. */
export const NOT_A_DATE = -1;

function digitAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code >= ZERO && code <= NINE ? code - ZERO : -1;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return leap ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Reads the calendar date in the first ten characters of `text`
 * (`YYYY-MM-DD`) and returns it as the integer `YYYYMMDD`, which orders
 * chronologically. The text may be exactly the date, or the date followed by
 * `T`, `t` or a space and anything else (an RFC 3339 timestamp): only the
 * date as written is read, the time and offset are ignored. Anything else,
 * including impossible days such as 2023-02-29, gives {@link NOT_A_DATE}.
 */
export function readDate(text: string): number {
  const length = text.length;
  if (length < 10) return NOT_A_DATE;
  if (length > 10) {
    const next = text.charCodeAt(10);
    if (next !== UPPER_T && next !== LOWER_T && next !== SPACE) return NOT_A_DATE;
  }
  if (text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH) return NOT_A_DATE;
  const y0 = digitAt(text, 0);
  const y1 = digitAt(text, 1);
  const y2 = digitAt(text, 2);
  const y3 = digitAt(text, 3);
  const m0 = digitAt(text, 5);
  const m1 = digitAt(text, 6);
  const d0 = digitAt(text, 8);
  const d1 = digitAt(text, 9);
  if ((y0 | y1 | y2 | y3 | m0 | m1 | d0 | d1) < 0) return NOT_A_DATE;
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const month = m0 * 10 + m1;
  const day = d0 * 10 + d1;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NOT_A_DATE;
  return year * 10000 + month * 100 + day;
}
