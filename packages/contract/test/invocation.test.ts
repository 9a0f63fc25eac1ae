import { ATTEMPT_HEADER, isResend } from '../src';

describe('the attempt header', () => {
  test('is lower case, as Node hands incoming headers over', () => {
    expect(ATTEMPT_HEADER).toBe(ATTEMPT_HEADER.toLowerCase());
  });

  test.each([
    [undefined, false],
    ['1', false],
    ['2', true],
    ['17', true],
    ['0', false],
    ['two', false],
  ])('an attempt header of %j is a resend: %s', (value, resend) => {
    expect(isResend(value)).toBe(resend);
  });
});
