import { describe, expect, it } from 'vitest';
import { apacheBinary } from './apache.js';

describe('apacheBinary', () => {
  it("takes the program of the node's check when it is Apache's own", () => {
    expect(apacheBinary('apachectl configtest')).toBe('apachectl');
    expect(apacheBinary('httpd -t')).toBe('httpd');
    expect(apacheBinary(' /usr/local/apache2/bin/apachectl -t')).toBe(
      '/usr/local/apache2/bin/apachectl',
    );
    expect(apacheBinary('apache2 -f /srv/a.conf -t')).toBe('apache2');
  });

  it("falls back to Debian's apache2ctl for any other check", () => {
    expect(apacheBinary('apache2ctl -t')).toBe('apache2ctl');
    expect(apacheBinary('sudo apachectl -t')).toBe('apache2ctl');
    expect(apacheBinary('/opt/check-apache.sh')).toBe('apache2ctl');
    expect(apacheBinary('$(evil) -t')).toBe('apache2ctl');
  });
});
