// Tools that misbehave: `spin` loops forever, `hoard` allocates without end (an
// allocation bomb), `ping` answers `pong` (to show a fresh instance serves after either).

import { Plugin, definePlugin } from '@plugboard/sdk';

const OBJECT = { type: 'object', properties: {} };

class Runaway extends Plugin {
  tools() {
    return [
      { name: 'ping', description: 'Answers pong', parameters: OBJECT },
      { name: 'spin', description: 'Never returns', parameters: OBJECT },
      { name: 'hoard', description: 'Allocates until stopped', parameters: OBJECT },
    ];
  }

  callTool(_context, name) {
    if (name === 'spin') {
      let count = 0;
      for (;;) count += 1;
    }
    if (name === 'hoard') {
      const blocks = [];
      for (;;) blocks.push(new Array(1 << 16).fill(blocks.length));
    }
    return 'pong';
  }
}

export default definePlugin(Runaway);
