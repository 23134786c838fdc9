import { describe, expect, it } from 'vitest';
import { fillInvocation } from './invocation.js';

describe('fillInvocation', () => {
  const inv = { inventory: 'fleet.yaml' };

  it('adds the inventory to every suggested fleet command', () => {
    expect(
      fillInvocation('promote with `stekctl rotate --promote`; or `stekctl rollback`', inv),
    ).toBe(
      'promote with `stekctl rotate -i fleet.yaml --promote`; or `stekctl rollback -i fleet.yaml`',
    );
  });

  it('repeats the pools a run was scoped to, unless the message names one', () => {
    const scoped = { inventory: 'fleet.yaml', pools: ['web', 'lb'] };
    expect(fillInvocation('`stekctl rotate --promote`', scoped)).toBe(
      '`stekctl rotate -i fleet.yaml -p web -p lb --promote`',
    );
    expect(fillInvocation('`stekctl rotate -p app --promote`', scoped)).toBe(
      '`stekctl rotate -i fleet.yaml -p app --promote`',
    );
  });

  it('quotes what the shell would split, and keeps --ssh-config', () => {
    expect(
      fillInvocation('`stekctl status`', { inventory: 'my fleet.yaml', sshConfig: 'none' }),
    ).toBe("`stekctl status -i 'my fleet.yaml' --ssh-config none`");
  });

  it('leaves other text, keygen and commands that already name an inventory alone', () => {
    const text = '`stekctl keygen -o k` and `stekctl verify -i other.yaml` and stekctl rotate';
    expect(fillInvocation(text, inv)).toBe(text);
    expect(fillInvocation('`stekctl rotate`', undefined)).toBe('`stekctl rotate`');
  });
});
