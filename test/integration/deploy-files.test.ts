import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageFile } from '../../src/package-root.js';
import { start, stopAll } from '../helpers/processes.js';
import { STOX_BIN } from '../helpers/stox.js';

// Issue 6: the files an operator deploys with (docker-compose.yml, config/, the systemd unit) agree with
// each other and with Stox's config schema. `docker-compose config -q` itself runs in .ci/run.

const read = (path: string): string => readFileSync(packageFile(path), 'utf8');

interface ComposeConfig {
  xmpp: { server: string; components: Array<{ domain: string; secret: string }> };
  sip: { listen: string[]; domains: string[]; outboundProxy: string };
}

describe('deployment files', () => {
  afterAll(stopAll);

  it('stox check-config accepts config/stox.compose.yaml', async () => {
    const p = start(process.execPath, [STOX_BIN, 'check-config', packageFile('config/stox.compose.yaml')]);
    const code = await p.exited;
    expect(p.stderr).toBe('');
    expect(code).toBe(0);
  });

  it('Stox, Prosody and Kamailio configs of the compose trio name the same secret, domains and addresses', () => {
    const stox = parse(read('config/stox.compose.yaml')) as ComposeConfig;
    const prosody = read('config/prosody/prosody.cfg.lua');
    const kamailio = read('config/kamailio/kamailio.cfg');
    const compose = read('docker-compose.yml');
    const component = stox.xmpp.components[0]!;

    expect(prosody).toContain(`Component "${component.domain}"\n  component_secret = "${component.secret}"`);
    expect(stox.xmpp.server).toBe('tcp://prosody:5347');
    expect(prosody).toMatch(/component_ports = \{ 5347 \}/);

    // Kamailio relays the XMPP domain to Stox's listen address, and Stox sends through Kamailio.
    const stoxAddr = /#!define STOX_URI "sip:([\d.]+:\d+)"/.exec(kamailio)?.[1];
    expect(stox.sip.listen).toContain(`udp://${stoxAddr}`);
    const kamAddr = /^listen=udp:([\d.]+:\d+)$/m.exec(kamailio)?.[1];
    expect(stox.sip.outboundProxy).toBe(`sip:${kamAddr};lr`);
    expect(kamailio).toContain(`alias="${stox.sip.domains[0]}"`);
    expect(compose).toContain(`ipv4_address: ${stoxAddr!.split(':')[0]}`);
    expect(compose).toContain(`ipv4_address: ${kamAddr!.split(':')[0]}`);
    const xmppDomain = /#!define XMPP_DOMAIN "([^"]+)"/.exec(kamailio)?.[1];
    expect(prosody).toContain(`VirtualHost "${xmppDomain}"`);
  });

  it('the systemd unit runs the built binary with the config its README section installs', () => {
    const unit = read('config/stox.service');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/stox\/dist\/src\/cli\.js --config \/etc\/stox\/stox\.yaml$/m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^StateDirectory=stox$/m);
    // V8's JIT writes and then executes code pages: MemoryDenyWriteExecute would kill Node at start.
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
  });
});
