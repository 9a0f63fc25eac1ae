import { SettingsError, parseSettings, setting } from '../src/settings';

const shape = {
  PORT: setting.port(3000),
  RATE: setting.number(1, 0.01, 100),
  FLAG: setting.boolean(false),
  LOG_LEVEL: setting.logLevel(),
};

describe('parseSettings', () => {
  test('an empty environment gives every default', () => {
    expect(parseSettings(shape, {})).toEqual({ PORT: 3000, RATE: 1, FLAG: false, LOG_LEVEL: 'info' });
  });

  test('values are parsed from their string form; empty strings count as unset', () => {
    expect(parseSettings(shape, { PORT: '8080', RATE: '2.5', FLAG: 'true', LOG_LEVEL: '' })).toEqual({
      PORT: 8080,
      RATE: 2.5,
      FLAG: true,
      LOG_LEVEL: 'info',
    });
  });

  test.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '3.5'],
    ['RATE', '0'],
    ['FLAG', 'yes'],
    ['LOG_LEVEL', 'loud'],
  ])('%s=%s is refused with a message naming the variable and the bad value', (name, value) => {
    let error: unknown;
    try {
      parseSettings(shape, { [name]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).message).toContain(`${name}=${JSON.stringify(value)}`);
  });

  test('every bad variable is reported at once', () => {
    expect(() => parseSettings(shape, { PORT: 'x', RATE: 'y' })).toThrow(/PORT=.*\n.*RATE=/s);
  });
});
