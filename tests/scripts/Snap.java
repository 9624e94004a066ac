// A JVM for tests/scripts/test_dump_jvm.sh (compiled there with javac):
// threads in a monitor (one holds it and sleeps, three wait to enter), in
// LockSupport.park, and in Thread.sleep. Prints "ready PID" once they wait,
// and exits normally (status 0) once the file named by its argument exists.
// Thread names stay within 15 bytes: Linux thread names (comm) are cut there.
import java.io.File;
import java.util.concurrent.locks.LockSupport;

public class Snap {
    static final Object monitor = new Object();

    static void start(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }

    public static void main(String[] args) throws Exception {
        start("mon-holder", () -> {
            synchronized (monitor) {
                try { Thread.sleep(Long.MAX_VALUE); } catch (InterruptedException e) { }
            }
        });
        Thread.sleep(100);
        for (int i = 0; i < 3; i++)
            start("mon-waiter-" + i, () -> { synchronized (monitor) { } });
        for (int i = 0; i < 2; i++)
            start("parker-" + i, () -> { for (;;) LockSupport.park(); });
        start("sleeper", () -> {
            for (;;) {
                try { Thread.sleep(60000); } catch (InterruptedException e) { }
            }
        });
        Thread.sleep(300);
        System.out.println("ready " + ProcessHandle.current().pid());
        System.out.flush();
        File stop = new File(args[0]);
        while (!stop.exists()) Thread.sleep(50);
        System.out.println("bye");
        System.exit(0);
    }
}
