import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../../test/support/prometheus.js';
import { renderMetrics } from './metrics.js';

describe('renderMetrics', () => {
  it('writes HELP and TYPE once per metric and escapes label values', () => {
    const text = renderMetrics([
      { name: 'stekctl_verify_ok', labels: { pool: 'web' }, value: 1 },
      { name: 'stekctl_resumption_ratio', labels: { pool: 'web', node: 'a"b\\c' }, value: 0.5 },
      { name: 'stekctl_verify_ok', labels: { pool: 'lb' }, value: 0 },
    ]);
    expect(text.match(/# TYPE stekctl_verify_ok gauge/g)).toHaveLength(1);
    expect(text).toContain('stekctl_resumption_ratio{pool="web",node="a\\"b\\\\c"} 0.5');
    const samples = parsePrometheus(text);
    expect(samples).toHaveLength(3);
    expect(samples.find((s) => s.labels.pool === 'lb')?.value).toBe(0);
  });
});
