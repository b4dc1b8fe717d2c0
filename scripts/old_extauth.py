#!/usr/bin/env python3
# A Python 3 port of the "External ejabberd authentication script" by Gregor Uhlenheuer
# (2014, Apache License 2.0), the script this project replaces. It is kept as the reference
# that `deno task bench` measures xmpp-extauth against (the "16 copies" and "python port"
# rows); it is not meant for production use.
#
# Faithful to the original: the same framing code (struct '>h' length, '>hh' reply), the same JSON bodies ({"username": JID, "password": ...} to BASE/login, {"username": JID}
# to BASE/exists), one urllib request, so one new TCP connection, per request, log lines in
# LOG/extauth.log and stderr redirected to LOG/extauth.err.
#
# Changed only where Python 3 or a crash forced it:
# - urllib2 -> urllib.request; stdin/stdout are read and written as bytes (sys.stdin.buffer).
# - `except EjabberdError, err` -> `except EjabberdError as err`; `is not 2` -> `!= 2`.
# - the original's lines lost in the article (the HEADERS dict head, the url argument, the
#   loop's `try`/`break`/`else`, the `__to_ejabberd` write) are restored as the GitHub
#   version has them.
# - the request is split on its first three ':' only: the original split on every ':' and
#   cut a password containing one (the benchmark's passwords do), which would make every
#   such login fail and the replies incomparable with xmpp-extauth's.
# - at end of input the original looped forever on `None`; this port exits, as ejabberd
#   expects of a program whose stdin closed.
# - a refusal without a "message" field made the original raise KeyError and die; the port
#   logs an empty message instead (the benchmark's API sends none).
# - an API error (HTTP error, unreachable, bad JSON) killed the original; the port answers
#   false, which is what ejabberd saw after restarting it.

import argparse
import json
import logging
import os
import struct
import sys
import urllib.request


DEFAULT_LOG_DIR = '/var/log/ejabberd'
FALLBACK_URL = 'http://localhost:8000/auth/'
HEADERS = {
    'Content-Type': 'application/json',
    'Accept': 'application/json'}


class EjabberdError(Exception):
    '''Exception class that holds ejabberd related errors.'''

    def __init__(self, ex):
        self.ex = ex

    def __str__(self):
        return repr(self.ex)


class ApiHandler:
    '''
    Class to execute HTTP requests to process
    the authentication orders from ejabberd.
    '''

    def __init__(self, url, headers):
        '''Initialize an ApiHandler instance.'''

        self.url = url
        self.headers = headers

    def call(self, call, data):
        '''
        Call the specified authentication API using the
        urllib library functions.
        '''

        url = '%s/%s' % (self.url, call)
        req = urllib.request.Request(url, data.encode('utf-8'), self.headers)
        with urllib.request.urlopen(req) as res:
            return json.load(res)


def make_jid(user, host):
    '''Build a JID using the given user and host'''

    return '%s@%s' % (user, host)


class EjabberdAuth:
    '''
    Class that encapsulates the ejabberd authentication logic.
    '''

    def __init__(self, url, headers, handler=None):
        '''
        Initialize a new EjabberdAuth instance.
        '''
        self.url = url
        self.headers = headers

        if handler is None:
            self.handler = ApiHandler(url, headers)
        else:
            self.handler = handler

    def __from_ejabberd(self):
        '''
        Listen on stdin and read input data sent from the
        connected ejabberd instance.
        '''
        try:
            input_length = sys.stdin.buffer.read(2)

            if len(input_length) != 2:
                logging.warning('ejabberd called with invalid input')
                return None

            (size,) = struct.unpack('>h', input_length)
            result = sys.stdin.buffer.read(size).decode('utf-8', 'replace')

            logging.debug('Read %d bytes: %s', size, result)

            return result.split(':', 3)
        except IOError:
            raise EjabberdError('Failed to read from ejabberd via stdin')

    def __to_ejabberd(self, success):
        '''
        Convert the input data into an ejabberd compatible
        format and send it to stdout.
        '''

        answer = 1 if success else 0
        token = struct.pack('>hh', 2, answer)

        sys.stdout.buffer.write(token)
        sys.stdout.buffer.flush()

        logging.debug('Returned %s success', 'with' if success else 'without')

    def __call_api(self, call, data):
        '''
        Call the JSON compatible API handler with the specified data
        and parse the response for a success.
        '''

        body = json.dumps(data)
        try:
            result = self.handler.call(call, body)
            success = result['success']
        except Exception as err:  # the original died here
            logging.warning('Call to API failed: %s', err)
            return False

        if not success:
            msg = result.get('message', '')
            logging.warning('Call to API returned without success: ' + msg)

        return success

    def __auth(self, username, server, password):
        '''Try to authenticate the user with the specified password.'''

        logging.debug('Processing "auth"')

        jid = make_jid(username, server)
        data = {'username': jid, 'password': password}

        return self.__call_api('login', data)

    def __isuser(self, username, server):
        '''Try to find the specified user.'''

        logging.debug('Processing "isuser"')

        jid = make_jid(username, server)
        data = {'username': jid}

        return self.__call_api('exists', data)

    def __setpass(self, username, server, password):
        '''Try to set the user's password.'''

        logging.debug('Processing "setpass"')

        # TODO
        return False

    def loop(self):
        '''
        Start the endless loop that reads on stdin and passes
        the authentication results to stdout towards the
        connected ejabberd instance.
        '''

        while True:
            try:
                data = self.__from_ejabberd()
            except KeyboardInterrupt:
                logging.info('Terminating by user input')
                break
            except EjabberdError as err:
                logging.warning('Input error: %s', err)
                break

            if data is None:  # end of input (the original spun here)
                break

            success = False
            cmd = data[0]

            if cmd == 'auth':
                success = self.__auth(data[1], data[2], data[3])
            elif cmd == 'isuser':
                success = self.__isuser(data[1], data[2])
            elif cmd == 'setpass':
                success = self.__setpass(data[1], data[2], data[3])
            else:
                logging.warning('Unhandled ejabberd cmd "%s"', cmd)

            self.__to_ejabberd(success)


def get_args():
    '''
    Parse some basic configuration from command line arguments.
    '''

    # build command line argument parser
    desc = 'ejabberd authentication script'
    parser = argparse.ArgumentParser(description=desc)

    # base url
    parser.add_argument('-u', '--url',
                        default=FALLBACK_URL,
                        help='base URL (default: %(default)s)')

    # log file location
    parser.add_argument('-l', '--log',
                        default=DEFAULT_LOG_DIR,
                        help='log directory (default: %(default)s)')

    # debug log level
    parser.add_argument('-d', '--debug',
                        action='store_const', const=True,
                        help='toggle debug mode')

    args = vars(parser.parse_args())

    return args['url'], args['debug'], args['log']


if __name__ == '__main__':
    URL, DEBUG, LOG = get_args()

    LOGFILE = LOG + '/extauth.log'
    LEVEL = logging.DEBUG if DEBUG else logging.INFO
    PID = str(os.getpid())
    FMT = '[%(asctime)s] [' + PID + '] [%(levelname)s] %(message)s'

    # redirect stderr
    ERRFILE = LOG + '/extauth.err'
    sys.stderr = open(ERRFILE, 'a+')

    # configure logging
    logging.basicConfig(level=LEVEL, format=FMT, filename=LOGFILE)

    logging.info('Starting ejabberd auth script')
    logging.info('Using %s as base URL', URL)
    logging.info('Running in %s mode', 'debug' if DEBUG else 'release')

    EJABBERD = EjabberdAuth(URL, HEADERS)
    EJABBERD.loop()

    logging.warning('Terminating ejabberd auth script')
