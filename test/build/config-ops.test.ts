import { describe, expect, it } from 'vitest';
import {
  commandLine, DEFAULT_PATH, envMap, runEnvironment, withEntrypoint, withEnv, withExposedPorts, withLabels, withShell, withWorkdir,
} from '../../src/build/config-ops.js';

describe('config operations', () => {
  it('ENV replaces in place and appends new variables', () => {
    const c = withEnv({ Env: ['PATH=/bin', 'A=1'] }, [['A', '2'], ['B', 'x=y']]);
    expect(c.Env).toEqual(['PATH=/bin', 'A=2', 'B=x=y']);
    expect(envMap(c.Env).get('B')).toBe('x=y');
  });

  it('WORKDIR resolves relative paths against the current one', () => {
    expect(withWorkdir({}, 'app').WorkingDir).toBe('/app');
    expect(withWorkdir({ WorkingDir: '/a' }, 'b/../c').WorkingDir).toBe('/a/c');
    expect(withWorkdir({ WorkingDir: '/a' }, '/x').WorkingDir).toBe('/x');
  });

  it('shell form uses SHELL, exec form is kept', () => {
    expect(commandLine({}, 'shell', ['echo hi'])).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(commandLine(withShell({}, ['/bin/bash', '-eo', 'pipefail', '-c']), 'shell', ['ls'])).toEqual(['/bin/bash', '-eo', 'pipefail', '-c', 'ls']);
    expect(commandLine({}, 'exec', ['a', 'b c'])).toEqual(['a', 'b c']);
  });

  it('ENTRYPOINT clears an inherited CMD but not one set in this build', () => {
    expect(withEntrypoint({ Cmd: ['sh'] }, ['/x'], false).Cmd).toBeNull();
    expect(withEntrypoint({ Cmd: ['sh'] }, ['/x'], true).Cmd).toEqual(['sh']);
  });

  it('EXPOSE expands ranges and protocols, rejects bad ports', () => {
    expect(Object.keys(withExposedPorts({}, ['80', '53/UDP', '8000-8002']).ExposedPorts!)).toEqual(['80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
    expect(() => withExposedPorts({}, ['http'])).toThrow(/invalid port/);
  });

  it('LABEL merges', () => {
    expect(withLabels({ Labels: { a: '1' } }, [['b', '2'], ['a', '3']]).Labels).toEqual({ a: '3', b: '2' });
  });

  it('RUN env: ENV wins over ARG, default PATH when unset', () => {
    const env = runEnvironment({ Env: ['A=env'] }, new Map([['A', 'arg'], ['B', 'arg']]));
    expect(env).toEqual(['A=env', 'B=arg', `PATH=${DEFAULT_PATH}`]);
  });
});
