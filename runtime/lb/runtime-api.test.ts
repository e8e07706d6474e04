import { describe, expect, it } from 'vitest';
import { parseServersState, parseShowProc, parseShowStat, sendCommand } from './runtime-api.ts';

// Answers captured from HAProxy 2.6.12 (columns of `show stat` cut after the ones read here).
const STAT = [
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,',
  'f,FRONTEND,,,2,3,9979,7,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,',
  'b,s1,0,0,1,1,,5,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,1,,5,,2,0,,1,L4OK,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Layer4 check passed,,0,0,0,0,,,,Layer4 check passed,,2,3,4,,,,127.0.0.1:18081,',
  'b,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,5,5,,1,3,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18082,',
  'b,BACKEND,0,0,1,1,998,5,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,3,0,,5,,1,0,,1,,,,0,0,0,0,0,0,,,,5,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,',
  '',
].join('\n');

const SERVERS_STATE = [
  '1',
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
  '3 b 1 s1 127.0.0.1 2 0 1 1 4 6 3 4 6 0 0 0 - 18081 - 0 0 - - 0',
  '3 b 2 s2 127.0.0.1 0 5 1 1 4 1 0 0 14 0 0 0 - 18082 - 0 0 - - 0',
  '3 b 3 s3 127.0.0.1 2 8 1 1 4 6 3 4 6 0 0 0 - 18083 - 0 0 - - 0',
  '',
].join('\n');

describe('parseShowStat', () => {
  const rows = parseShowStat(STAT);
  it.each([
    { svname: 'FRONTEND', expected: { pxname: 'f', type: 'frontend', status: 'OPEN', scur: 2, stot: 7, addr: undefined } },
    { svname: 's1', expected: { pxname: 'b', type: 'server', status: 'UP', scur: 1, stot: 5, weight: 1, addr: '127.0.0.1:18081', checkStatus: 'L4OK' } },
    { svname: 's2', expected: { pxname: 'b', type: 'server', status: 'MAINT', scur: 0, stot: 0, addr: '127.0.0.1:18082', checkStatus: undefined } },
    { svname: 'BACKEND', expected: { pxname: 'b', type: 'backend', status: 'UP', scur: 1, stot: 5 } },
  ])('reads the $svname row', ({ svname, expected }) => {
    expect(rows.find((row) => row.svname === svname)).toMatchObject(expected);
  });

  it('keeps every column by name', () => {
    expect(rows.find((row) => row.svname === 's1')?.columns.check_desc).toBe('Layer4 check passed');
  });

  it('answers nothing for an answer without a header', () => {
    expect(parseShowStat('Unknown command\n')).toEqual([]);
  });
});

describe('parseServersState', () => {
  it.each([
    { server: 's1', expected: { backend: 'b', address: '127.0.0.1', port: 18081, operational: 'running', admin: 'ready', adminBits: 0 } },
    { server: 's2', expected: { backend: 'b', port: 18082, operational: 'stopped', admin: 'maint', adminBits: 5 } },
    { server: 's3', expected: { port: 18083, operational: 'running', admin: 'drain', adminBits: 8 } },
  ])('reads $server', ({ server, expected }) => {
    expect(parseServersState(SERVERS_STATE).find((row) => row.server === server)).toMatchObject(expected);
  });

  it('answers nothing for an empty state', () => {
    expect(parseServersState('1\n')).toEqual([]);
  });
});

describe('parseShowProc', () => {
  it.each([
    {
      scenario: 'one worker',
      text: '#<PID>          <type>          <reloads>       <uptime>        <version>      \n13838           master          0 [failed: 0]   0d00h00m00s     2.6.12-1+deb12u4\n# workers\n13841           worker          0               0d00h00m00s     2.6.12-1+deb12u4\n# programs\n\n',
      expected: { master: { pid: 13838, role: 'master', reloads: 0, failedReloads: 0 }, workers: [{ pid: 13841, role: 'worker', reloads: 0 }], oldWorkers: [] },
    },
    {
      scenario: 'an old worker still finishing after a failed and a good reload',
      text: '#<PID>          <type>          <reloads>       <uptime>        <version>      \n15066           master          2 [failed: 1]   0d00h00m10s     2.6.12-1+deb12u4\n# workers\n15365           worker          0               0d00h00m00s     2.6.12-1+deb12u4\n# old workers\n15158           worker          1               0d00h00m09s     2.6.12-1+deb12u4\n# programs\n\n',
      expected: {
        master: { pid: 15066, role: 'master', reloads: 2, failedReloads: 1 },
        workers: [{ pid: 15365, role: 'worker', reloads: 0 }],
        oldWorkers: [{ pid: 15158, role: 'old worker', reloads: 1 }],
      },
    },
    { scenario: 'no master row', text: 'Unknown command.\n', expected: undefined },
  ])('$scenario', ({ text, expected }) => {
    expect(parseShowProc(text)).toEqual(expected);
  });
});

describe('sendCommand', () => {
  it.each(['show stat;shutdown sessions', 'show stat\nshutdown sessions'])('refuses %j, which the CLI would read as two commands', async (command) => {
    await expect(sendCommand('/nonexistent.sock', command)).rejects.toThrow(/several commands/);
  });

  it('says which socket it could not reach', async () => {
    await expect(sendCommand('/nonexistent/admin.sock', 'show info')).rejects.toThrow(
      'HAProxy\'s CLI at /nonexistent/admin.sock could not take "show info": ENOENT.',
    );
  });
});
